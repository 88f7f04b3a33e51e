package auth

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"todo/platform/apitest"
	"todo/platform/httpx"
)

var (
	tooLarge       = `{"email":"` + strings.Repeat("a", httpx.MaxBody) + `"}`
	textPlain      = http.Header{"Content-Type": {"text/plain"}}
	timestampRegex = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$`)
	// invalidInput marks the requests of the 422 tables: some break the
	// document's schema (lengths, patterns, null), others only the
	// service's rules (a blank name), which the document cannot say.
	invalidInput = apitest.MayMismatch("a 422 case")
)

// badBodyCases are the binder's answers, the same on every endpoint that
// takes a body.
func badBodyCases(t *testing.T, s *apitest.Server, method, path string, valid body, auth ...http.Header) {
	t.Helper()
	h := func(extra ...http.Header) []http.Header { return append(slices.Clone(auth), extra...) }
	withUnknown := body{"unknown_field": 1}
	for k, v := range valid {
		withUnknown[k] = v
	}
	cases := []struct {
		name   string
		body   any
		hdr    []http.Header
		status int
		code   string
	}{
		{"malformed-json/400", `{"email":`, h(), http.StatusBadRequest, "bad_request"},
		{"not-an-object/400", `[1,2]`, h(), http.StatusBadRequest, "bad_request"},
		{"unknown-field/400", withUnknown, h(), http.StatusBadRequest, "bad_request"},
		{"wrong-type/400", `{"` + firstKey(valid) + `": 12}`, h(), http.StatusBadRequest, "bad_request"},
		{"text-plain/415", valid, h(textPlain), http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"too-large/413", tooLarge, h(), http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"too-large-and-text-plain/413", tooLarge, h(textPlain), http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"text-plain-and-malformed/415", `{`, h(textPlain), http.StatusUnsupportedMediaType, "unsupported_media_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := append(slices.Clone(tc.hdr), apitest.Mismatch("a bad body"))
			expectProblem(t, s.Do(method, path, tc.body, hdr...), tc.status, tc.code)
		})
	}
}

func firstKey(b body) string {
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys[0]
}

func TestRegister(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)

	t.Run("register/created/201", func(t *testing.T) {
		r := s.Do("POST", "/api/v1/auth/register", body{"email": "  Ada@Example.COM ", "name": "  Ada Lovelace ", "password": " pass word 8 "})
		expectStatus(t, r, http.StatusCreated)
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		var p pairJSON
		r.JSON(&p)
		if p.User.Email != "ada@example.com" || p.User.Name != "Ada Lovelace" || !p.User.IsActive || p.User.EmailVerified {
			t.Errorf("user %+v", p.User)
		}
		if p.TokenType != "Bearer" || p.ExpiresIn != 900 || p.AccessToken == "" || len(p.RefreshToken) < 43 {
			t.Errorf("pair %+v", p)
		}
		for _, ts := range []string{p.User.CreatedAt, p.User.UpdatedAt} {
			if !timestampRegex.MatchString(ts) {
				t.Errorf("timestamp %q is not RFC 3339 UTC with six digits", ts)
			}
		}
		// The password is kept as sent, spaces included.
		login(t, s, "ada@example.com", " pass word 8 ")
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "ada@example.com", "password": "pass word 8"}), http.StatusUnauthorized, "invalid_credentials")
	})
	t.Run("register/duplicate-email/409", func(t *testing.T) {
		register(t, s, "dup@example.com")
		r := s.Do("POST", "/api/v1/auth/register", body{"email": "DUP@Example.com", "name": "Other", "password": testPassword})
		expectProblem(t, r, http.StatusConflict, "email_taken")
	})
	t.Run("register/72-byte-multibyte-password/201", func(t *testing.T) {
		pw := strings.Repeat("€", 24) // 72 bytes
		r := s.Do("POST", "/api/v1/auth/register", body{"email": "euro@example.com", "name": "Euro", "password": pw})
		expectStatus(t, r, http.StatusCreated)
		login(t, s, "euro@example.com", pw)
	})

	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 62) // 255 characters
	invalid := []struct {
		name   string
		body   body
		fields []string
	}{
		{"register/email-no-at/422", body{"email": "ada.example.com", "name": "A", "password": testPassword}, []string{"email"}},
		{"register/email-no-dot-in-domain/422", body{"email": "ada@localhost", "name": "A", "password": testPassword}, []string{"email"}},
		{"register/email-too-short/422", body{"email": "a@b.", "name": "A", "password": testPassword}, []string{"email"}},
		{"register/email-too-long/422", body{"email": "x" + long, "name": "A", "password": testPassword}, []string{"email"}},
		{"register/email-empty/422", body{"email": "   ", "name": "A", "password": testPassword}, []string{"email"}},
		{"register/email-null/422", body{"email": nil, "name": "A", "password": testPassword}, []string{"email"}},
		{"register/name-blank/422", body{"email": "n@example.com", "name": " \t ", "password": testPassword}, []string{"name"}},
		{"register/name-101/422", body{"email": "n@example.com", "name": strings.Repeat("é", 101), "password": testPassword}, []string{"name"}},
		{"register/name-missing/422", body{"email": "n@example.com", "password": testPassword}, []string{"name"}},
		{"register/password-7-bytes/422", body{"email": "n@example.com", "name": "N", "password": "1234567"}, []string{"password"}},
		{"register/password-73-bytes/422", body{"email": "n@example.com", "name": "N", "password": strings.Repeat("a", 73)}, []string{"password"}},
		{"register/password-25-euro-signs/422", body{"email": "n@example.com", "name": "N", "password": strings.Repeat("€", 25)}, []string{"password"}},
		{"register/everything-wrong/422", body{"email": "x", "name": "", "password": ""}, []string{"email", "name", "password"}},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			p := expectProblem(t, s.Do("POST", "/api/v1/auth/register", tc.body, invalidInput), http.StatusUnprocessableEntity, "validation_failed")
			if got := fieldsOf(p); !slices.Equal(got, tc.fields) {
				t.Errorf("fields %v, want %v", got, tc.fields)
			}
		})
	}
	t.Run("register/255-character-email/201", func(t *testing.T) {
		expectStatus(t, s.Do("POST", "/api/v1/auth/register", body{"email": long, "name": "L", "password": testPassword}), http.StatusCreated)
	})
	badBodyCases(t, s, "POST", "/api/v1/auth/register", body{"email": "b@example.com", "name": "B", "password": testPassword})
}

func TestLogin(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)
	reg := register(t, s, "login@example.com")

	t.Run("login/ok/200", func(t *testing.T) {
		r := s.Do("POST", "/api/v1/auth/login", body{"email": " LOGIN@example.com", "password": testPassword})
		expectStatus(t, r, http.StatusOK)
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("no Cache-Control: no-store")
		}
		var p pairJSON
		r.JSON(&p)
		if p.User.ID != reg.User.ID || p.RefreshToken == reg.RefreshToken {
			t.Errorf("pair %+v", p)
		}
	})
	t.Run("login/wrong-password-and-unknown-email-alike/401", func(t *testing.T) {
		a := expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "login@example.com", "password": "wrong password"}), http.StatusUnauthorized, "invalid_credentials")
		b := expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "nobody@example.com", "password": "wrong password"}), http.StatusUnauthorized, "invalid_credentials")
		a.RequestID, b.RequestID = "", ""
		if !equalProblems(a, b) {
			t.Errorf("bodies differ: %+v vs %+v", a, b)
		}
	})
	t.Run("login/73-byte-password-never-truncated/401", func(t *testing.T) {
		pw := strings.Repeat("p", 72)
		expectStatus(t, s.Do("POST", "/api/v1/auth/register", body{"email": "long@example.com", "name": "L", "password": pw}), http.StatusCreated)
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "long@example.com", "password": pw + "x"}), http.StatusUnauthorized, "invalid_credentials")
		login(t, s, "long@example.com", pw)
	})
	t.Run("login/disabled/403", func(t *testing.T) {
		p := register(t, s, "disabled@example.com")
		deactivate(t, e, p.User.ID)
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "disabled@example.com", "password": testPassword}), http.StatusForbidden, "account_disabled")
		// A wrong password says nothing about the account's state.
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "disabled@example.com", "password": "not it at all"}), http.StatusUnauthorized, "invalid_credentials")
	})
	for _, tc := range []struct {
		name   string
		body   body
		fields []string
	}{
		{"login/empty-password/422", body{"email": "login@example.com", "password": ""}, []string{"password"}},
		{"login/invalid-email/422", body{"email": "not-an-email", "password": testPassword}, []string{"email"}},
		{"login/missing-both/422", body{}, []string{"email", "password"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := expectProblem(t, s.Do("POST", "/api/v1/auth/login", tc.body, invalidInput), http.StatusUnprocessableEntity, "validation_failed")
			if got := fieldsOf(p); !slices.Equal(got, tc.fields) {
				t.Errorf("fields %v, want %v", got, tc.fields)
			}
		})
	}
	badBodyCases(t, s, "POST", "/api/v1/auth/login", body{"email": "login@example.com", "password": testPassword})
}

func equalProblems(a, b apitest.Problem) bool {
	return a.Type == b.Type && a.Title == b.Title && a.Status == b.Status && a.Code == b.Code &&
		a.Detail == b.Detail && len(a.Errors) == len(b.Errors) && a.Instance == b.Instance
}

func TestRefresh(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)

	t.Run("refresh/rotates/200", func(t *testing.T) {
		p := register(t, s, "rot@example.com")
		r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken})
		expectStatus(t, r, http.StatusOK)
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("no Cache-Control: no-store")
		}
		var q pairJSON
		r.JSON(&q)
		if q.RefreshToken == p.RefreshToken || q.User.ID != p.User.ID {
			t.Fatalf("pair not rotated: %+v", q)
		}
		expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(q.AccessToken)), http.StatusOK)
		// The first pair's access token belongs to the same live session.
		expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken)), http.StatusOK)
	})
	t.Run("refresh/spent-token-revokes-session/401", func(t *testing.T) {
		p := register(t, s, "reuse@example.com")
		var q pairJSON
		r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken})
		expectStatus(t, r, http.StatusOK)
		r.JSON(&q)
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusUnauthorized, "unauthorized")
		// Reuse ended the whole session: the newest tokens are dead too.
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": q.RefreshToken}), http.StatusUnauthorized, "unauthorized")
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(q.AccessToken)), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("refresh/unknown-token/401", func(t *testing.T) {
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": "no-such-token"}), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("refresh/expired-session/401", func(t *testing.T) {
		e := pgEnv(t)
		s := e.server(t)
		p := register(t, s, "old@example.com")
		e.clock.Advance(29 * 24 * time.Hour)
		var q pairJSON
		r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken})
		expectStatus(t, r, http.StatusOK)
		r.JSON(&q)
		// Rotation did not extend the session: 30 days after login it ends.
		e.clock.Advance(24*time.Hour + time.Second)
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": q.RefreshToken}), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("refresh/deactivated-user/401", func(t *testing.T) {
		p := register(t, s, "deact-refresh@example.com")
		deactivate(t, e, p.User.ID)
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("refresh/logged-out/401", func(t *testing.T) {
		p := register(t, s, "out-refresh@example.com")
		expectStatus(t, s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": p.RefreshToken}), http.StatusNoContent)
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("refresh/empty-token/422", func(t *testing.T) {
		p := expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": ""}, apitest.Mismatch("an empty token")), http.StatusUnprocessableEntity, "validation_failed")
		if got := fieldsOf(p); !slices.Equal(got, []string{"refresh_token"}) {
			t.Errorf("fields %v", got)
		}
	})
	badBodyCases(t, s, "POST", "/api/v1/auth/refresh", body{"refresh_token": "x"})
}

func TestLogout(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)

	t.Run("logout/ends-session/204", func(t *testing.T) {
		p := register(t, s, "bye@example.com")
		other := login(t, s, "bye@example.com", testPassword)
		r := s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": p.RefreshToken})
		expectStatus(t, r, http.StatusNoContent)
		if len(r.Body) != 0 {
			t.Errorf("204 with a body: %q", r.Body)
		}
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken)), http.StatusUnauthorized, "unauthorized")
		// Only that session ended.
		expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(other.AccessToken)), http.StatusOK)
	})
	t.Run("logout/unknown-token/204", func(t *testing.T) {
		expectStatus(t, s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": "never-issued"}), http.StatusNoContent)
	})
	t.Run("logout/spent-token/204", func(t *testing.T) {
		p := register(t, s, "spent-out@example.com")
		var q pairJSON
		r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken})
		expectStatus(t, r, http.StatusOK)
		r.JSON(&q)
		expectStatus(t, s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": p.RefreshToken}), http.StatusNoContent)
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(q.AccessToken)), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("logout/twice/204", func(t *testing.T) {
		p := register(t, s, "twice@example.com")
		expectStatus(t, s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": p.RefreshToken}), http.StatusNoContent)
		expectStatus(t, s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": p.RefreshToken}), http.StatusNoContent)
	})
	t.Run("logout/missing-token/422", func(t *testing.T) {
		expectProblem(t, s.Do("POST", "/api/v1/auth/logout", body{}, apitest.Mismatch("no token")), http.StatusUnprocessableEntity, "validation_failed")
	})
	badBodyCases(t, s, "POST", "/api/v1/auth/logout", body{"refresh_token": "x"})
}

func TestGetMe(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)
	p := register(t, s, "me@example.com")

	t.Run("me/ok/200", func(t *testing.T) {
		r := s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken))
		expectStatus(t, r, http.StatusOK)
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("no Cache-Control: no-store")
		}
		var u userJSON
		r.JSON(&u)
		if u != p.User {
			t.Errorf("user %+v, want %+v", u, p.User)
		}
		if strings.Contains(string(r.Body), "hashed_password") || strings.Contains(string(r.Body), "$2a$") {
			t.Errorf("the hash leaked: %s", r.Body)
		}
	})
	for _, tc := range []struct {
		name string
		hdr  http.Header
	}{
		{"me/no-token/401", nil},
		{"me/basic-scheme/401", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}},
		{"me/empty-bearer/401", http.Header{"Authorization": {"Bearer "}}},
		{"me/garbage/401", apitest.Bearer("garbage")},
		{"me/two-tokens/401", apitest.Bearer(p.AccessToken + " " + p.AccessToken)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, tc.hdr), http.StatusUnauthorized, "unauthorized")
		})
	}
	t.Run("me/lower-case-scheme/200", func(t *testing.T) {
		expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, http.Header{"Authorization": {"bearer " + p.AccessToken}}), http.StatusOK)
	})
}

func TestUpdateMe(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)
	p := register(t, s, "rename@example.com")
	auth := apitest.Bearer(p.AccessToken)

	t.Run("update-me/renamed/200", func(t *testing.T) {
		e.clock.Advance(time.Second)
		r := s.Do("PATCH", "/api/v1/users/me", body{"name": "  Ada King  "}, auth)
		expectStatus(t, r, http.StatusOK)
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("no Cache-Control: no-store")
		}
		var u userJSON
		r.JSON(&u)
		if u.Name != "Ada King" || u.UpdatedAt == p.User.UpdatedAt || u.CreatedAt != p.User.CreatedAt {
			t.Errorf("user %+v", u)
		}
	})
	t.Run("update-me/absent-name-unchanged/200", func(t *testing.T) {
		r := s.Do("PATCH", "/api/v1/users/me", body{}, auth)
		expectStatus(t, r, http.StatusOK)
		var u userJSON
		r.JSON(&u)
		if u.Name != "Ada King" {
			t.Errorf("name %q", u.Name)
		}
	})
	for _, tc := range []struct {
		name string
		body body
	}{
		{"update-me/null-name/422", body{"name": nil}},
		{"update-me/blank-name/422", body{"name": "   "}},
		{"update-me/101-characters/422", body{"name": strings.Repeat("ß", 101)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := expectProblem(t, s.Do("PATCH", "/api/v1/users/me", tc.body, auth, invalidInput), http.StatusUnprocessableEntity, "validation_failed")
			if got := fieldsOf(pr); !slices.Equal(got, []string{"name"}) {
				t.Errorf("fields %v", got)
			}
		})
	}
	t.Run("update-me/no-token-and-too-large/401", func(t *testing.T) {
		expectProblem(t, s.Do("PATCH", "/api/v1/users/me", tooLarge, apitest.Mismatch("an oversized body")), http.StatusUnauthorized, "unauthorized")
	})
	badBodyCases(t, s, "PATCH", "/api/v1/users/me", body{"name": "x"}, auth)
}

func TestChangePassword(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)

	t.Run("change-password/others-revoked/204", func(t *testing.T) {
		me := register(t, s, "pw@example.com")
		other := login(t, s, "pw@example.com", testPassword)
		r := s.Do("PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": "a brand new secret"}, apitest.Bearer(me.AccessToken))
		expectStatus(t, r, http.StatusNoContent)
		expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(me.AccessToken)), http.StatusOK)
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(other.AccessToken)), http.StatusUnauthorized, "unauthorized")
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": other.RefreshToken}), http.StatusUnauthorized, "unauthorized")
		expectStatus(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": me.RefreshToken}), http.StatusOK)
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "pw@example.com", "password": testPassword}), http.StatusUnauthorized, "invalid_credentials")
		login(t, s, "pw@example.com", "a brand new secret")
	})
	p := register(t, s, "pw2@example.com")
	auth := apitest.Bearer(p.AccessToken)
	t.Run("change-password/wrong-current/403", func(t *testing.T) {
		expectProblem(t, s.Do("PUT", "/api/v1/users/me/password", body{"current_password": "not my password", "new_password": "whatever it is"}, auth), http.StatusForbidden, "wrong_password")
		login(t, s, "pw2@example.com", testPassword)
	})
	for _, tc := range []struct {
		name   string
		body   body
		fields []string
	}{
		{"change-password/new-too-short/422", body{"current_password": testPassword, "new_password": "short"}, []string{"new_password"}},
		{"change-password/new-73-bytes/422", body{"current_password": testPassword, "new_password": strings.Repeat("x", 73)}, []string{"new_password"}},
		{"change-password/current-missing/422", body{"new_password": "long enough"}, []string{"current_password"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := expectProblem(t, s.Do("PUT", "/api/v1/users/me/password", tc.body, auth, invalidInput), http.StatusUnprocessableEntity, "validation_failed")
			if got := fieldsOf(pr); !slices.Equal(got, tc.fields) {
				t.Errorf("fields %v, want %v", got, tc.fields)
			}
		})
	}
	t.Run("change-password/no-token/401", func(t *testing.T) {
		expectProblem(t, s.Do("PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": "long enough"}), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("change-password/no-token-and-too-large/401", func(t *testing.T) {
		expectProblem(t, s.Do("PUT", "/api/v1/users/me/password", tooLarge, apitest.Mismatch("an oversized body")), http.StatusUnauthorized, "unauthorized")
	})
	badBodyCases(t, s, "PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": "long enough"}, auth)
}

func TestDeleteMe(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)

	t.Run("delete-me/gone/204", func(t *testing.T) {
		p := register(t, s, "gone@example.com")
		other := login(t, s, "gone@example.com", testPassword)
		expectStatus(t, s.Do("DELETE", "/api/v1/users/me", body{"password": testPassword}, apitest.Bearer(p.AccessToken)), http.StatusNoContent)
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken)), http.StatusUnauthorized, "unauthorized")
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(other.AccessToken)), http.StatusUnauthorized, "unauthorized")
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": other.RefreshToken}), http.StatusUnauthorized, "unauthorized")
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "gone@example.com", "password": testPassword}), http.StatusUnauthorized, "invalid_credentials")
		n, err := e.db.Ent.Session.Query().Count(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d sessions left after the only user was deleted", n)
		}
		// The email is free again.
		register(t, s, "gone@example.com")
	})
	p := register(t, s, "keep@example.com")
	auth := apitest.Bearer(p.AccessToken)
	t.Run("delete-me/wrong-password/403", func(t *testing.T) {
		expectProblem(t, s.Do("DELETE", "/api/v1/users/me", body{"password": "not the password"}, auth), http.StatusForbidden, "wrong_password")
		expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, auth), http.StatusOK)
	})
	t.Run("delete-me/password-missing/422", func(t *testing.T) {
		expectProblem(t, s.Do("DELETE", "/api/v1/users/me", body{}, auth), http.StatusUnprocessableEntity, "validation_failed")
	})
	t.Run("delete-me/no-token/401", func(t *testing.T) {
		expectProblem(t, s.Do("DELETE", "/api/v1/users/me", body{"password": testPassword}), http.StatusUnauthorized, "unauthorized")
	})
	badBodyCases(t, s, "DELETE", "/api/v1/users/me", body{"password": testPassword}, auth)
}

func TestSessions(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)

	first := register(t, s, "sess@example.com")
	e.clock.Advance(time.Second)
	second := login(t, s, "sess@example.com", testPassword, ua("TodoApp/2.3 "+strings.Repeat("ü", 300)))
	e.clock.Advance(time.Second)
	third := login(t, s, "sess@example.com", testPassword)
	expectStatus(t, s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": third.RefreshToken}), http.StatusNoContent)

	t.Run("sessions/live-newest-first/200", func(t *testing.T) {
		r := s.Do("GET", "/api/v1/users/me/sessions", nil, apitest.Bearer(first.AccessToken))
		expectStatus(t, r, http.StatusOK)
		var list struct{ Items []sessionJSON }
		r.JSON(&list)
		if len(list.Items) != 2 {
			t.Fatalf("%d sessions, want 2: %s", len(list.Items), r.Body)
		}
		newest, oldest := list.Items[0], list.Items[1]
		if newest.Current || !oldest.Current {
			t.Errorf("current flags wrong: %+v", list.Items)
		}
		if got := []rune(newest.UserAgent); len(got) != 255 || !strings.HasPrefix(newest.UserAgent, "TodoApp/2.3 ü") {
			t.Errorf("user agent of %d characters: %q", len(got), newest.UserAgent)
		}
		if newest.CreatedAt <= oldest.CreatedAt {
			t.Errorf("not newest first: %s, %s", newest.CreatedAt, oldest.CreatedAt)
		}
		for _, ts := range []string{newest.CreatedAt, newest.LastUsedAt, newest.ExpiresAt} {
			if !timestampRegex.MatchString(ts) {
				t.Errorf("timestamp %q", ts)
			}
		}
	})
	t.Run("sessions/no-token/401", func(t *testing.T) {
		expectProblem(t, s.Do("GET", "/api/v1/users/me/sessions", nil), http.StatusUnauthorized, "unauthorized")
	})

	stranger := register(t, s, "stranger@example.com")
	t.Run("revoke-session/another-users/404", func(t *testing.T) {
		expectProblem(t, s.Do("DELETE", "/api/v1/users/me/sessions/"+sessionOf(t, e, second), nil, apitest.Bearer(stranger.AccessToken)), http.StatusNotFound, "not_found")
		expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(second.AccessToken)), http.StatusOK)
	})
	t.Run("revoke-session/unknown-id/404", func(t *testing.T) {
		expectProblem(t, s.Do("DELETE", "/api/v1/users/me/sessions/7d1c9e44-2b3a-4f7e-8c65-1a0f9b8e7d21", nil, apitest.Bearer(first.AccessToken)), http.StatusNotFound, "not_found")
		expectProblem(t, s.Do("DELETE", "/api/v1/users/me/sessions/not-a-uuid", nil, apitest.Bearer(first.AccessToken)), http.StatusNotFound, "not_found")
	})
	t.Run("revoke-session/logged-out-session/404", func(t *testing.T) {
		expectProblem(t, s.Do("DELETE", "/api/v1/users/me/sessions/"+sessionOf(t, e, third), nil, apitest.Bearer(first.AccessToken)), http.StatusNotFound, "not_found")
	})
	t.Run("revoke-session/ended/204", func(t *testing.T) {
		r := s.Do("DELETE", "/api/v1/users/me/sessions/"+sessionOf(t, e, second), nil, apitest.Bearer(first.AccessToken))
		expectStatus(t, r, http.StatusNoContent)
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(second.AccessToken)), http.StatusUnauthorized, "unauthorized")
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": second.RefreshToken}), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("revoke-session/own/204", func(t *testing.T) {
		expectStatus(t, s.Do("DELETE", "/api/v1/users/me/sessions/"+sessionOf(t, e, first), nil, apitest.Bearer(first.AccessToken)), http.StatusNoContent)
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(first.AccessToken)), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("revoke-session/no-token/401", func(t *testing.T) {
		expectProblem(t, s.Do("DELETE", "/api/v1/users/me/sessions/"+sessionOf(t, e, stranger), nil), http.StatusUnauthorized, "unauthorized")
	})
}

// sessionOf reads the session id out of a pair's access token.
func sessionOf(t testing.TB, e *env, p pairJSON) string {
	t.Helper()
	var claims accessClaims
	if _, _, err := jwt.NewParser().ParseUnverified(p.AccessToken, &claims); err != nil {
		t.Fatalf("parse access token: %v", err)
	}
	return claims.SessionID
}

// deactivate sets a user's is_active to false, as an operator would.
func deactivate(t testing.TB, e *env, userID string) {
	t.Helper()
	if err := e.db.Ent.User.UpdateOneID(userID).SetIsActive(false).Exec(t.Context()); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
}
