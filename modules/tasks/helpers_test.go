package tasks

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"todo/platform/apperr"
	"todo/platform/httpx"
)

func TestCursorRoundTrip(t *testing.T) {
	c := newCursorCodec([]byte("secret"))
	at := time.Date(2026, 3, 1, 16, 20, 0, 123456000, time.UTC)
	p := position{At: at, ID: 41}
	tok := c.encode("u1", StatusPending, p)
	got, err := c.decode(tok, "u1", StatusPending)
	if err != nil || !got.At.Equal(at) || got.ID != 41 {
		t.Fatalf("decode = %v, %v; want %v", got, err, p)
	}
}

func TestCursorRejects(t *testing.T) {
	c := newCursorCodec([]byte("secret"))
	tok := c.encode("u1", StatusAll, position{At: time.Unix(1700000000, 0).UTC(), ID: 7})
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	flipped := append([]byte(nil), raw...)
	flipped[3] ^= 1
	cases := []struct {
		name, token, user string
		status            Status
	}{
		{"empty", "", "u1", StatusAll},
		{"not-base64", "!!!", "u1", StatusAll},
		{"truncated", tok[:len(tok)-2], "u1", StatusAll},
		{"extended", tok + "AA", "u1", StatusAll},
		{"tampered-payload", base64.RawURLEncoding.EncodeToString(flipped), "u1", StatusAll},
		{"padded", base64.URLEncoding.EncodeToString(raw), "u1", StatusAll},
		{"foreign-user", tok, "u2", StatusAll},
		{"other-status", tok, "u1", StatusCompleted},
		{"other-key", newCursorCodec([]byte("other")).encode("u1", StatusAll, position{ID: 7}), "u1", StatusAll},
		{"zero-id", c.encode("u1", StatusAll, position{At: time.Unix(0, 0), ID: 0}), "u1", StatusAll},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.decode(tc.token, tc.user, tc.status); !errors.Is(err, ErrBadCursor) {
				t.Fatalf("got %v, want ErrBadCursor", err)
			}
		})
	}
}

// TestETag changes every field of a task in turn, the fields found by
// reflection so that a new one is covered without a new case: the ETag
// must change with each, as a strong validator of the representation.
func TestETag(t *testing.T) {
	desc := "d"
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := Task{ID: 1, UserID: "u", Title: "t", Description: &desc, CreatedAt: at, UpdatedAt: at}
	tag := etagOf(base)
	if len(tag) != 34 || tag[0] != '"' || tag[33] != '"' {
		t.Fatalf("etag %s is not a quoted 32-hex tag", tag)
	}
	if etagOf(base) != tag {
		t.Fatal("etag is not deterministic")
	}
	rt := reflect.TypeFor[Task]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		for _, variant := range []string{"other", "null"} {
			next := base
			fv := reflect.ValueOf(&next).Elem().Field(i)
			if !changeValue(fv, variant) {
				continue
			}
			t.Run(f.Name+"/"+variant, func(t *testing.T) {
				if got := etagOf(next); got == tag {
					t.Fatalf("etag did not change: %s", got)
				}
			})
		}
	}
	empty := ""
	withEmpty := base
	withEmpty.Description = &empty
	if etagOf(withEmpty) == tag {
		t.Fatal("etag did not change with an empty description")
	}
}

// changeValue sets v to a value other than its current one: variant
// "other" a different non-null value, "null" nil (pointers only; false
// when v cannot be null).
func changeValue(v reflect.Value, variant string) bool {
	if v.Kind() == reflect.Pointer {
		if variant == "null" {
			if v.IsNil() {
				return false
			}
			v.SetZero()
			return true
		}
		n := reflect.New(v.Type().Elem())
		if !v.IsNil() {
			n.Elem().Set(v.Elem())
		}
		changeValue(n.Elem(), "other")
		v.Set(n)
		return true
	}
	if variant == "null" {
		return false
	}
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Microsecond)))
	case v.Kind() == reflect.String:
		v.SetString(v.String() + "x")
	case v.Kind() == reflect.Bool:
		v.SetBool(!v.Bool())
	case v.CanInt():
		v.SetInt(v.Int() + 1)
	default:
		panic("changeValue: no other value for " + v.Type().String())
	}
	return true
}

func TestIfMatch(t *testing.T) {
	const cur = `"abc"`
	cases := []struct {
		name   string
		values []string
		want   bool
	}{
		{"absent", nil, true},
		{"star", []string{"*"}, true},
		{"exact", []string{`"abc"`}, true},
		{"list", []string{`"x", "abc"`}, true},
		{"list-no-space", []string{`"x","abc"`}, true},
		{"several-headers", []string{`"x"`, `"abc"`}, true},
		{"stale", []string{`"x"`}, false},
		{"weak", []string{`W/"abc"`}, false},
		{"unquoted", []string{`abc`}, false},
		{"empty", []string{""}, false},
		{"half-quoted", []string{`"abc`}, false},
		{"star-in-list", []string{`"x", *`}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseIfMatch(tc.values).matches(cur); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1", 1, true},
		{"42", 42, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"9223372036854775808", 0, false},
		{"0", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"01", 0, false},
		{"1.0", 0, false},
		{"1e3", 0, false},
		{"abc", 0, false},
		{"", 0, false},
		{" 1", 0, false},
		{"١", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseID(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("got %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseListQuery(t *testing.T) {
	cases := []struct {
		name       string
		query      string
		wantStatus Status
		wantLimit  int
		badFields  []string
	}{
		{"defaults", "", StatusAll, 20, nil},
		{"pending-5", "status=pending&limit=5", StatusPending, 5, nil},
		{"completed-100", "status=completed&limit=100", StatusCompleted, 100, nil},
		{"limit-abc", "limit=abc", StatusAll, 20, []string{"limit"}},
		{"limit-0", "limit=0", StatusAll, 20, []string{"limit"}},
		{"limit-101", "limit=101", StatusAll, 20, []string{"limit"}},
		{"limit-empty", "limit=", StatusAll, 20, []string{"limit"}},
		{"status-x", "status=x", StatusAll, 20, []string{"status"}},
		{"status-case", "status=ALL", StatusAll, 20, []string{"status"}},
		{"both-bad", "status=x&limit=-1", StatusAll, 20, []string{"status", "limit"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := url.ParseQuery(tc.query)
			q, err := parseListQuery(v)
			if q.Status != tc.wantStatus || q.Limit != tc.wantLimit {
				t.Fatalf("got %s/%d, want %s/%d", q.Status, q.Limit, tc.wantStatus, tc.wantLimit)
			}
			var got []string
			if ae, ok := apperr.From(err); ok {
				for _, f := range ae.Fields {
					got = append(got, f.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.badFields, ",") {
				t.Fatalf("bad fields %v, want %v", got, tc.badFields)
			}
		})
	}
}

func TestCheckTitle(t *testing.T) {
	set := func(s string) httpx.Optional[string] { return httpx.Optional[string]{Set: true, Value: s} }
	cases := []struct {
		name    string
		in      httpx.Optional[string]
		want    string
		wantErr bool
	}{
		{"plain", set("Buy milk"), "Buy milk", false},
		{"trimmed", set(" \t Buy milk\n"), "Buy milk", false},
		{"unicode-space-trimmed", set("\u00a0\u3000Buy\u2003"), "Buy", false},
		{"200-emoji", set(strings.Repeat("😀", 200)), strings.Repeat("😀", 200), false},
		{"201-chars", set(strings.Repeat("a", 201)), "", true},
		{"empty", set(""), "", true},
		{"only-space", set(" \u00a0 "), "", true},
		{"absent", httpx.Optional[string]{}, "", true},
		{"null", httpx.Optional[string]{Set: true, Null: true}, "", true},
		{"nul-byte", set("a\x00b"), "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := checkTitle(tc.in)
			if got != tc.want || (msg != "") != tc.wantErr {
				t.Fatalf("got %q, %q; want %q, error %v", got, msg, tc.want, tc.wantErr)
			}
		})
	}
}

func TestApplyUpdate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	now := t0.Add(2 * time.Hour)
	desc := "d"
	pending := Task{ID: 1, Title: "t", Description: &desc, CreatedAt: t0, UpdatedAt: t0}
	done := pending
	done.Completed, done.CompletedAt, done.UpdatedAt = true, &t1, t1
	str := func(s string) httpx.Optional[string] { return httpx.Optional[string]{Set: true, Value: s} }
	boolean := func(b bool) httpx.Optional[bool] { return httpx.Optional[bool]{Set: true, Value: b} }
	null := httpx.Optional[string]{Set: true, Null: true}
	cases := []struct {
		name            string
		cur             Task
		in              UpdateInput
		changed         bool
		wantCompletedAt *time.Time
	}{
		{"empty", pending, UpdateInput{}, false, nil},
		{"same-title", pending, UpdateInput{Title: str("t")}, false, nil},
		{"same-description", pending, UpdateInput{Description: str("d")}, false, nil},
		{"new-title", pending, UpdateInput{Title: str("u")}, true, nil},
		{"clear-description", pending, UpdateInput{Description: null}, true, nil},
		{"complete", pending, UpdateInput{Completed: boolean(true)}, true, &now},
		{"complete-completed-keeps-time", done, UpdateInput{Completed: boolean(true)}, false, &t1},
		{"reopen", done, UpdateInput{Completed: boolean(false)}, true, nil},
		{"pending-stays", pending, UpdateInput{Completed: boolean(false)}, false, nil},
		{"rename-completed-keeps-time", done, UpdateInput{Title: str("u"), Completed: boolean(true)}, true, &t1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next, changed := applyUpdate(tc.cur, tc.in, now)
			if changed != tc.changed {
				t.Fatalf("changed %v, want %v", changed, tc.changed)
			}
			if !equalPtr(next.CompletedAt, tc.wantCompletedAt) {
				t.Fatalf("completed_at %v, want %v", next.CompletedAt, tc.wantCompletedAt)
			}
			if next.Completed != (next.CompletedAt != nil) {
				t.Fatalf("completed %v with completed_at %v", next.Completed, next.CompletedAt)
			}
			switch {
			case changed && !next.UpdatedAt.Equal(now):
				t.Fatalf("updated_at %v, want %v", next.UpdatedAt, now)
			case !changed && !next.UpdatedAt.Equal(tc.cur.UpdatedAt):
				t.Fatalf("updated_at moved without a change")
			case !next.CreatedAt.Equal(tc.cur.CreatedAt):
				t.Fatalf("created_at moved")
			}
		})
	}
}

func TestWriteTimeIsMonotonic(t *testing.T) {
	prev := time.Date(2026, 1, 1, 0, 0, 0, 5000, time.UTC)
	cases := []struct {
		name      string
		now, want time.Time
	}{
		{"later", prev.Add(time.Second), prev.Add(time.Second)},
		{"same", prev, prev.Add(time.Microsecond)},
		{"earlier", prev.Add(-time.Second), prev.Add(time.Microsecond)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := writeTime(tc.now, Task{UpdatedAt: prev}); !got.Equal(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTimestampFormat(t *testing.T) {
	cases := []struct {
		name string
		in   time.Time
		want string
	}{
		{"whole-second", time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), `"2026-01-01T12:00:00.000000Z"`},
		{"micro", time.Date(2026, 1, 1, 12, 0, 0, 123456000, time.UTC), `"2026-01-01T12:00:00.123456Z"`},
		{"other-zone", time.Date(2026, 1, 1, 13, 0, 0, 100000000, time.FixedZone("X", 3600)), `"2026-01-01T12:00:00.100000Z"`},
		{"nanos-truncated", time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), `"2026-12-31T23:59:59.999999Z"`},
		{"year-0", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), `"0000-01-01T00:00:00.000000Z"`},
		{"year-9999", time.Date(9999, 12, 31, 23, 59, 59, 1000, time.UTC), `"9999-12-31T23:59:59.000001Z"`},
		{"year-10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), `"10000-01-01T00:00:00.000000Z"`},
		{"year-minus-1", time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), `"-0001-01-01T00:00:00.000000Z"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := timestamp(tc.in).MarshalJSON()
			if string(b) != tc.want {
				t.Fatalf("got %s, want %s", b, tc.want)
			}
			if std := `"` + tc.in.UTC().Format(httpx.TimeLayout) + `"`; std != tc.want {
				t.Fatalf("the layout writes %s, want %s", std, tc.want)
			}
		})
	}
}

func TestSyncTokenRoundTrip(t *testing.T) {
	c := newSyncCodec([]byte("secret"))
	issued := time.Date(2026, 3, 2, 9, 41, 7, 123456000, time.UTC)
	for _, tok := range []syncToken{
		{Issued: issued, Seq: 0},
		{Issued: issued, Seq: 1 << 40},
		{Issued: issued, Seq: 12, Full: true, At: issued.Add(-time.Hour), ID: 41},
		{Issued: issued, Seq: 12, Full: true, At: issued.Add(-time.Hour), ID: 41, Account: issued.Add(-48 * time.Hour).UnixMicro()},
		{Issued: issued, Seq: 3, Account: issued.UnixMicro()},
	} {
		got, err := c.decode(c.encode("u1", tok), "u1")
		if err != nil || got != tok {
			t.Fatalf("decode = %+v, %v; want %+v", got, err, tok)
		}
	}
}

func TestSyncTokenRejects(t *testing.T) {
	c := newSyncCodec([]byte("secret"))
	issued := time.Unix(1700000000, 0).UTC()
	tok := c.encode("u1", syncToken{Issued: issued, Seq: 7})
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	flipped := append([]byte(nil), raw...)
	flipped[10] ^= 1
	// Payloads the codec never writes, sealed with the right key: the
	// decoder must not trust them because the MAC checks out.
	sealed := func(kind byte, words ...int64) string {
		var p [syncTokenLen]byte
		p[0] = kind
		for i, w := range words {
			binary.BigEndian.PutUint64(p[1+8*i:], uint64(w)) //nolint:gosec // G115: test payloads, negative on purpose
		}
		return c.s.seal("u1", syncTokenTag, p[:])
	}
	cases := []struct{ name, token, user string }{
		{"empty", "", "u1"},
		{"not-base64", "!!!", "u1"},
		{"truncated", tok[:len(tok)-2], "u1"},
		{"extended", tok + "AA", "u1"},
		{"tampered-payload", base64.RawURLEncoding.EncodeToString(flipped), "u1"},
		{"padded", tok + "=", "u1"}, // a payload and MAC of 57 bytes need no padding
		{"padded-twice", tok + "==", "u1"},
		{"foreign-user", tok, "u2"},
		{"other-key", newSyncCodec([]byte("other")).encode("u1", syncToken{Issued: issued}), "u1"},
		{"list-cursor", newCursorCodec([]byte("secret")).encode("u1", StatusAll, position{At: issued, ID: 7}), "u1"},
		{"unknown-kind", sealed(9, 0, 1), "u1"},
		{"negative-seq", sealed(tokenIncremental, 0, -1), "u1"},
		{"incremental-with-position", sealed(tokenIncremental, 0, 1, 5, 6), "u1"},
		{"full-without-id", sealed(tokenFull, 0, 1, 5, 0), "u1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.decode(tc.token, tc.user); !errors.Is(err, ErrBadSyncToken) {
				t.Fatalf("got %v, want ErrBadSyncToken", err)
			}
		})
	}
}
