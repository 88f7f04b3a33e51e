package auth

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"todo/platform/apitest"
	"todo/platform/database"
	"todo/platform/database/dbtest"
)

// TestRevokeSessionMalformedIDIs404: a session id PostgreSQL cannot take as
// text (invalid UTF-8, NUL) is no such session, a 404, not a 500.
func TestRevokeSessionMalformedIDIs404(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)
	p := register(t, s, "malformed-sid@example.com")
	for _, id := range []string{"%ff", "%c3%28", "%00", "not-a-uuid"} {
		r := s.Do("DELETE", "/api/v1/users/me/sessions/"+id, nil, apitest.Bearer(p.AccessToken))
		expectProblem(t, r, http.StatusNotFound, "not_found")
	}
}

// TestLoginRacingPasswordChange: a login that checked the old password
// while the password was being changed must not come out with a session
// the change did not revoke. The service's clock is read between the
// password check and the session insert (newSession); the change is made
// there, as a concurrent PUT /users/me/password would.
func TestLoginRacingPasswordChange(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(testing.TB) *database.DB
	}{{"postgres", dbtest.New}, {"sqlite", dbtest.NewSQLite}} {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open(t))
			s := e.server(t)
			p := register(t, s, "race-pw@example.com")
			svc := e.mod.svc
			newHash, err := bcrypt.GenerateFromPassword([]byte("a brand new secret"), e.cfg.BcryptCost)
			if err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int32
			orig := svc.now
			svc.now = func() time.Time {
				if calls.Add(1) == 2 { // Login: limit, then newSession after the check
					if err := svc.store.changePassword(context.Background(), p.User.ID, sessionOf(t, e, p), string(newHash), dbTime(orig())); err != nil {
						t.Errorf("change password: %v", err)
					}
				}
				return orig()
			}
			r := s.Do("POST", "/api/v1/auth/login", body{"email": "race-pw@example.com", "password": testPassword})
			svc.now = orig
			if r.Status == http.StatusOK {
				var pair pairJSON
				r.JSON(&pair)
				if g := s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(pair.AccessToken)); g.Status == http.StatusOK {
					t.Fatalf("a login with the old password, racing the change, kept a live session")
				}
				return
			}
			expectProblem(t, r, http.StatusUnauthorized, "invalid_credentials")
		})
	}
}
