package httpx

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

func TestFormatTime(t *testing.T) {
	cases := []struct {
		name string
		in   time.Time
		want string
	}{
		{"utc/micros", time.Date(2026, 1, 1, 12, 0, 0, 123456000, time.UTC), "2026-01-01T12:00:00.123456Z"},
		{"utc/zero-fraction", time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), "2026-01-01T12:00:00.000000Z"},
		{"nanos-truncated", time.Date(2026, 1, 1, 12, 0, 0, 999999999, time.UTC), "2026-01-01T12:00:00.999999Z"},
		{"other-zone-to-utc", time.Date(2026, 1, 1, 1, 30, 0, 5000, time.FixedZone("X", -5*3600)), "2026-01-01T06:30:00.000005Z"},
		{"year-0", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), "0000-01-01T00:00:00.000000Z"},
		{"year-9999", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), "9999-12-31T23:59:59.999999Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatTime(tc.in); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestAppendTimeMatchesLayout: the digit-by-digit writer equals
// time.AppendFormat with TimeLayout, inside and outside the years 0–9999.
func TestAppendTimeMatchesLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for range 100_000 {
		at := time.Unix(r.Int64N(253402300800), r.Int64N(1e9)) // 1970–9999
		if r.IntN(10) == 0 {
			at = time.Unix(r.Int64N(1<<40)-1<<39, r.Int64N(1e9))
		}
		if got, want := AppendTime(nil, at), at.UTC().AppendFormat(nil, TimeLayout); !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s, want %s", at, got, want)
		}
	}
}
