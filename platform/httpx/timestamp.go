package httpx

import "time"

// TimeLayout is the contract's timestamp: RFC 3339 in UTC with a Z suffix
// and exactly six fractional digits (2026-01-01T12:00:00.123456Z). Every
// timestamp a response carries is written by FormatTime or AppendTime.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// FormatTime formats t in UTC as TimeLayout.
func FormatTime(t time.Time) string {
	return string(AppendTime(make([]byte, 0, len(TimeLayout)), t))
}

// AppendTime appends t in UTC as TimeLayout, digit by digit:
// time.AppendFormat interprets the layout on every call, which made it most
// of the cost of encoding a list of tasks. Years outside 0–9999, which the
// layout writes differently, still go through AppendFormat. Sub-microsecond
// digits are truncated, as the layout does.
func AppendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimeLayout)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = appendDigits(append(b, '-'), int(month), 2)
	b = appendDigits(append(b, '-'), day, 2)
	b = appendDigits(append(b, 'T'), hour, 2)
	b = appendDigits(append(b, ':'), minute, 2)
	b = appendDigits(append(b, ':'), sec, 2)
	b = appendDigits(append(b, '.'), t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendDigits appends the n lowest decimal digits of v ≥ 0, zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	b = append(b, make([]byte, n)...)
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}
