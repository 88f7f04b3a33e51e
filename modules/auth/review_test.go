package auth

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"todo/platform/apitest"
	"todo/platform/apperr"
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
					cred, err := svc.store.credentialsByID(context.Background(), p.User.ID)
					if err != nil {
						t.Errorf("read hash: %v", err)
					}
					if err := svc.store.changePassword(context.Background(), p.User.ID, sessionOf(t, e, p), cred.Hash, string(newHash), dbTime(orig())); err != nil {
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

// TestRotateRacingAccountDeletion: a refresh and the deletion of its
// account, interleaved on PostgreSQL, must not deadlock (40P01, a 500 for
// one of them). Deleting the user locks its sessions, then their refresh
// tokens; the rotation must take its session's lock before its refresh
// token's. The interleaving is forced: an uncommitted insert of the new
// token's hash holds the rotation inside its transaction until the
// deletion is waiting too.
func TestRotateRacingAccountDeletion(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)
	p := register(t, s, "rotate-delete@example.com")
	other := register(t, s, "rotate-delete-other@example.com")
	st := e.mod.svc.store
	ctx := t.Context()
	_, newHash, err := e.mod.svc.tokens.newRefresh(sessionOf(t, e, p))
	if err != nil {
		t.Fatal(err)
	}
	blocker, err := e.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = blocker.Rollback() }()
	if _, err := blocker.ExecContext(ctx, `INSERT INTO "refresh_tokens" ("hash", "session_id", "created_at") VALUES ($1, $2, now())`,
		newHash, sessionOf(t, e, other)); err != nil {
		t.Fatal(err)
	}
	waiting := func(n int) {
		t.Helper()
		for range 500 {
			var got int
			if err := e.db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got >= n {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("fewer than %d transactions waiting for a lock", n)
	}
	rotated, deleted := make(chan error, 1), make(chan error, 1)
	go func() {
		_, _, err := st.rotate(ctx, hashToken(p.RefreshToken), "", dbTime(time.Now()), func(string) (string, error) { return newHash, nil })
		rotated <- err
	}()
	waiting(1)
	cred, err := st.credentialsByID(ctx, p.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	go func() { deleted <- st.deleteUser(ctx, p.User.ID, "", cred.Hash, dbTime(time.Now())) }()
	waiting(2)
	if err := blocker.Rollback(); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan error{"rotate": rotated, "delete user": deleted} {
		if err := <-ch; err != nil {
			if _, ok := apperr.From(err); !ok {
				t.Errorf("%s: %v, want success or a contract error", name, err)
			}
		}
	}
}
