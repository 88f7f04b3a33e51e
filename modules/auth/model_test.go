package auth

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"todo/platform/httpx"
)

func TestFormatTime(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	cases := []struct {
		name string
		in   time.Time
		want string
	}{
		{"utc-micro", time.Date(2026, 1, 1, 12, 0, 0, 123456000, time.UTC), "2026-01-01T12:00:00.123456Z"},
		{"whole-second", time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), "2026-01-01T12:00:00.000000Z"},
		{"other-zone", time.Date(2026, 1, 1, 13, 0, 0, 5000, cet), "2026-01-01T12:00:00.000005Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := httpx.FormatTime(tc.in); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCleanUserAgent(t *testing.T) {
	cases := []struct {
		name      string
		in        string
		wantRunes int
		prefix    string
	}{
		{"empty", "", 0, ""},
		{"short", "curl/8.0", 8, "curl/8.0"},
		{"exactly-255", strings.Repeat("a", 255), 255, "aaa"},
		{"long-ascii", strings.Repeat("a", 300), 255, "aaa"},
		{"long-multibyte", strings.Repeat("ü", 300), 255, "üüü"},
		{"invalid-utf8", "ok\xff\xfe", 3, "ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := cleanUserAgent(tc.in)
			if n := utf8.RuneCountInString(got); n != tc.wantRunes || !utf8.ValidString(got) || !strings.HasPrefix(got, tc.prefix) {
				t.Errorf("got %q (%d characters), want %d characters starting %q", got, n, tc.wantRunes, tc.prefix)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	cases := []struct {
		name, header, want string
		ok                 bool
	}{
		{"bearer", "Bearer abc", "abc", true},
		{"case-insensitive", "bEaReR abc", "abc", true},
		{"empty", "", "", false},
		{"scheme-only", "Bearer", "", false},
		{"blank-token", "Bearer   ", "", false},
		{"basic", "Basic abc", "", false},
		{"two-tokens", "Bearer a b", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := bearerToken(tc.header)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestCheckPasswordNeverTruncates(t *testing.T) {
	pw := strings.Repeat("k", maxPasswordBytes)
	hash := mustHash(t, pw)
	for _, tc := range []struct {
		name string
		pw   string
		want bool
	}{
		{"exact", pw, true},
		{"one-byte-more", pw + "!", false},
		{"one-byte-less", pw[1:], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkPassword(hash, tc.pw)
			if err != nil || got != tc.want {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func mustHash(t *testing.T, pw string) []byte {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
