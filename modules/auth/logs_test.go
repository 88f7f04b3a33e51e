package auth

import (
	"net/http"
	"strings"
	"testing"

	"todo/platform/apitest"
)

// TestLogsHoldNoSecrets runs every endpoint, failures included, with the
// logger at debug level and checks that no password, token, hash or the
// secret appears in any line.
func TestLogsHoldNoSecrets(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)
	const newPassword = "fresh secret words"
	var secrets []string

	p := register(t, s, "logs@example.com")
	q := login(t, s, "logs@example.com", testPassword)
	s.Do("POST", "/api/v1/auth/login", body{"email": "logs@example.com", "password": "a wrong guess"})
	s.Do("POST", "/api/v1/auth/login", body{"email": "nobody@example.com", "password": "a wrong guess"})
	var r1 pairJSON
	r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": q.RefreshToken})
	r.JSON(&r1)
	s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": q.RefreshToken}) // reuse: logged as a warning
	s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken))
	s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken+"x"))
	s.Do("PATCH", "/api/v1/users/me", body{"name": "Logged"}, apitest.Bearer(p.AccessToken))
	s.Do("GET", "/api/v1/users/me/sessions", nil, apitest.Bearer(p.AccessToken))
	s.Do("PUT", "/api/v1/users/me/password", body{"current_password": "wrong one!", "new_password": newPassword}, apitest.Bearer(p.AccessToken))
	expectStatus(t, s.Do("PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": newPassword}, apitest.Bearer(p.AccessToken)), http.StatusNoContent)
	u, err := e.db.Ent.User.Get(t.Context(), p.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, u.HashedPassword)
	s.Do("DELETE", "/api/v1/users/me", body{"password": "wrong one!"}, apitest.Bearer(p.AccessToken))
	z := login(t, s, "logs@example.com", newPassword)
	s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": z.RefreshToken})
	expectStatus(t, s.Do("DELETE", "/api/v1/users/me", body{"password": newPassword}, apitest.Bearer(p.AccessToken)), http.StatusNoContent)

	logs := e.logs.String()
	if !strings.Contains(logs, `"route":"/api/v1/auth/login"`) || !strings.Contains(logs, "refresh token reused") {
		t.Fatalf("the logger saw nothing; logs:\n%s", logs)
	}
	secrets = append(secrets, testPassword, newPassword, "a wrong guess", "wrong one!", testSecret,
		p.AccessToken, p.RefreshToken, z.AccessToken, z.RefreshToken, q.AccessToken, q.RefreshToken, r1.AccessToken, r1.RefreshToken,
		hashToken(p.RefreshToken), hashToken(q.RefreshToken), "$2a$", "hashed_password")
	for _, sec := range secrets {
		if sec != "" && strings.Contains(logs, sec) {
			t.Errorf("the logs hold %q", sec)
		}
	}
}
