package auth

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/database/dbtest"
)

// revocationWait is how long a test waits for another instance to refuse a
// revoked token before it fails. The contract is a second; the bound is
// generous for a loaded machine, and the delay seen is logged.
const revocationWait = 5 * time.Second

// instance is one process of the service in a cluster test: its own
// module, session cache and listener on the shared database.
type instance struct {
	*env
	listener *database.Listener
	srv      *apitest.Server
}

// cluster starts n instances of the auth module on one fresh PostgreSQL
// database, each with the session cache on and its listener connected.
func cluster(t *testing.T, n int, opts ...option) []*instance {
	t.Helper()
	db, url := dbtest.NewWithURL(t)
	opts = append([]option{withSessionCache()}, opts...)
	out := make([]*instance, n)
	for i := range out {
		l := newTestListener(t, url)
		e := newListeningEnv(t, db, l, opts...)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
		out[i] = &instance{env: e, listener: l, srv: e.server(t)}
	}
	for _, in := range out {
		waitConnected(t, in.listener, true)
	}
	return out
}

func newTestListener(t *testing.T, url string) *database.Listener {
	t.Helper()
	l, err := database.NewListener(url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func waitConnected(t *testing.T, l *database.Listener, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Connected() != want {
		if time.Now().After(deadline) {
			t.Fatalf("listener connected=%v after 10 s, want %v", l.Connected(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// me asks in for the caller of p's access token.
func (in *instance) me(p pairJSON) *apitest.Response {
	return in.srv.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken))
}

// warm makes in cache p's session, and checks it did.
func (in *instance) warm(t *testing.T, p pairJSON) {
	t.Helper()
	expectStatus(t, in.me(p), http.StatusOK)
	if !in.cached(t, p) {
		t.Fatal("the session was not cached by a request")
	}
}

// cached reports whether in's session cache holds p's session now.
func (in *instance) cached(t *testing.T, p pairJSON) bool {
	t.Helper()
	return in.mod.svc.sessions.live(sessionOf(t, in.env, p), p.User.ID, in.clock.Now())
}

// waitRefused polls in with p's token until it is refused, and returns how
// long that took after since.
func (in *instance) waitRefused(t *testing.T, p pairJSON, since time.Time) time.Duration {
	t.Helper()
	for {
		r := in.me(p)
		if r.Status == http.StatusUnauthorized {
			return time.Since(since)
		}
		if r.Status != http.StatusOK {
			t.Fatalf("GET /users/me: %d %s", r.Status, r.Body)
		}
		if time.Since(since) > revocationWait {
			t.Fatalf("another instance still accepts the revoked token %v after the revocation", revocationWait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRevocationReachesEveryInstance: for every way a session ends, the
// token warmed into instance B's cache is refused by B soon after the
// revocation is made through instance A (or an operator's command, another
// process), and by A at once.
func TestRevocationReachesEveryInstance(t *testing.T) {
	ins := cluster(t, 2, withConfig(func(a *config.Auth) { a.MaxSessions = 3 }))
	a, b := ins[0], ins[1]
	a.mod.svc.resetFloor = 0
	admin := NewAdmin(a.db.Ent, a.db.Dialect, a.clock.Now)

	cases := []struct {
		name string
		// revoke ends p's session through A; other is a second session of
		// the same user. It reports whether other must survive.
		revoke func(t *testing.T, p, other pairJSON) (otherLives bool)
	}{
		{"logout", func(t *testing.T, p, _ pairJSON) bool {
			expectStatus(t, a.srv.Do("POST", "/api/v1/auth/logout", body{"refresh_token": p.RefreshToken}), http.StatusNoContent)
			return true
		}},
		{"logout-with-spent-token", func(t *testing.T, p, _ pairJSON) bool {
			// The rotation keeps the session (and B's cached check) alive;
			// the old token's logout ends it.
			expectStatus(t, a.srv.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusOK)
			expectStatus(t, a.srv.Do("POST", "/api/v1/auth/logout", body{"refresh_token": p.RefreshToken}), http.StatusNoContent)
			return true
		}},
		{"session-deleted", func(t *testing.T, p, other pairJSON) bool {
			expectStatus(t, a.srv.Do("DELETE", "/api/v1/users/me/sessions/"+sessionOf(t, a.env, p), nil, apitest.Bearer(other.AccessToken)), http.StatusNoContent)
			return true
		}},
		{"refresh-reuse", func(t *testing.T, p, _ pairJSON) bool {
			expectStatus(t, a.srv.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusOK)
			expectProblem(t, a.srv.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusUnauthorized, "unauthorized")
			return true
		}},
		{"password-changed", func(t *testing.T, _, other pairJSON) bool {
			expectStatus(t, a.srv.Do("PUT", "/api/v1/users/me/password",
				body{"current_password": testPassword, "new_password": "new password 123"}, apitest.Bearer(other.AccessToken)), http.StatusNoContent)
			return true // the caller's own session survives its change
		}},
		{"password-reset", func(t *testing.T, p, _ pairJSON) bool {
			expectStatus(t, a.srv.Do("POST", "/api/v1/auth/password-reset/request", body{"email": p.User.Email}), http.StatusAccepted)
			token := lastToken(t, a.env, p.User.Email, "reset-password")
			expectStatus(t, a.srv.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": token, "new_password": "a brand new password"}), http.StatusNoContent)
			return false
		}},
		{"account-deleted", func(t *testing.T, _, other pairJSON) bool {
			expectStatus(t, a.srv.Do("DELETE", "/api/v1/users/me", body{"password": testPassword}, apitest.Bearer(other.AccessToken)), http.StatusNoContent)
			return false
		}},
		{"session-cap", func(t *testing.T, p, _ pairJSON) bool {
			// MaxSessions is 3: two more logins evict p's, the oldest.
			for range 2 {
				a.clock.Advance(time.Millisecond)
				login(t, a.srv, p.User.Email, testPassword)
			}
			return true // other is the second oldest: evicted by the next login
		}},
		{"operator-disable", func(t *testing.T, p, _ pairJSON) bool {
			if _, err := admin.SetActive(t.Context(), p.User.Email, false); err != nil {
				t.Fatal(err)
			}
			return false
		}},
		{"operator-delete", func(t *testing.T, p, _ pairJSON) bool {
			if _, err := admin.Delete(t.Context(), p.User.Email); err != nil {
				t.Fatal(err)
			}
			return false
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := register(t, a.srv, fmt.Sprintf("revoked%d@example.com", i))
			a.clock.Advance(time.Millisecond) // the sessions' ages order them (the cap)
			other := login(t, a.srv, p.User.Email, testPassword)
			b.warm(t, p)
			b.warm(t, other)
			a.warm(t, p)

			start := time.Now()
			otherLives := tc.revoke(t, p, other)
			if strings.HasPrefix(tc.name, "operator-") {
				// Another process revoked: A hears of it as B does.
				delay := a.waitRefused(t, p, start)
				t.Logf("%s: refused by instance A %v after the revocation began", tc.name, delay.Round(time.Microsecond))
			} else {
				// The instance that revoked refuses at once.
				expectProblem(t, a.me(p), http.StatusUnauthorized, "unauthorized")
			}
			delay := b.waitRefused(t, p, start)
			t.Logf("%s: refused by the other instance %v after the revocation began", tc.name, delay.Round(time.Microsecond))
			if otherLives {
				expectStatus(t, b.me(other), http.StatusOK)
			}
		})
	}
}

// TestRevocationWhileListenerDown: while an instance's listener is
// disconnected it asks the database on every request and caches nothing,
// so a revocation made meanwhile (whose notification it cannot hear) is
// seen at once; once the listener is back, the cache starts empty and
// notifications work again.
func TestRevocationWhileListenerDown(t *testing.T) {
	ins := cluster(t, 2)
	a, b := ins[0], ins[1]
	p := register(t, a.srv, "down@example.com")
	q := login(t, a.srv, "down@example.com", testPassword)
	b.warm(t, p)
	b.warm(t, q)

	// Keep the listeners from reconnecting, then cut them.
	dbName := currentDatabase(t, a.env)
	execAdmin(t, "ALTER DATABASE "+dbName+" ALLOW_CONNECTIONS false")
	reopened := false
	reopen := func() {
		if !reopened {
			reopened = true
			execAdmin(t, "ALTER DATABASE "+dbName+" ALLOW_CONNECTIONS true")
		}
	}
	t.Cleanup(reopen)
	killListeners(t, a.env, dbName)
	waitConnected(t, b.listener, false)

	if n := b.mod.svc.sessions.len(); n != 0 {
		t.Errorf("the cache kept %d entries when the listener went down", n)
	}
	// Answered by the database, and not remembered.
	expectStatus(t, b.me(p), http.StatusOK)
	if b.cached(t, p) {
		t.Error("a session was cached while the listener was down")
	}
	// A revocation whose notification nobody hears is still seen at once.
	expectStatus(t, a.srv.Do("POST", "/api/v1/auth/logout", body{"refresh_token": p.RefreshToken}), http.StatusNoContent)
	expectProblem(t, b.me(p), http.StatusUnauthorized, "unauthorized")
	expectStatus(t, b.me(q), http.StatusOK)

	// An entry that slipped in while disconnected (as a check racing the
	// disconnection would) is dropped when the listener is back.
	svc := b.mod.svc
	svc.sessions.put("stale-session", q.User.ID, b.clock.Now().Add(time.Hour), b.clock.Now(), svc.sessions.generation())
	if svc.sessions.len() != 1 {
		t.Fatal("test entry not stored")
	}
	reopen()
	waitConnected(t, b.listener, true)
	if n := svc.sessions.len(); n != 0 {
		t.Errorf("the cache kept %d entries when the listener came back", n)
	}
	// Cached again, and revoked through notifications again.
	b.warm(t, q)
	start := time.Now()
	expectStatus(t, a.srv.Do("POST", "/api/v1/auth/logout", body{"refresh_token": q.RefreshToken}), http.StatusNoContent)
	delay := b.waitRefused(t, q, start)
	t.Logf("after the reconnection: refused by the other instance %v after the revocation began", delay.Round(time.Microsecond))
}

func currentDatabase(t *testing.T, e *env) string {
	t.Helper()
	var name string
	if err := e.db.SQL.QueryRowContext(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}

// execAdmin runs stmt on the server's maintenance database (a database
// cannot change its own ALLOW_CONNECTIONS).
func execAdmin(t *testing.T, stmt string) {
	t.Helper()
	db, err := sql.Open("pgx", dbtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.ExecContext(context.WithoutCancel(t.Context()), stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// killListeners terminates the listeners' connections to dbName, found by
// their application_name.
func killListeners(t *testing.T, e *env, dbName string) {
	t.Helper()
	var n int
	err := e.db.SQL.QueryRowContext(t.Context(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`,
		dbName, database.ListenerApplicationName).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no listener connection found")
	}
}
