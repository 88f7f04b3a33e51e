package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"todo/ent/refreshtoken"
	"todo/ent/session"
	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/database/dbtest"
)

// The regression tests of the second adversarial review of the account
// endpoints (docs/reliability.md, "Account endpoints under attack"); each
// failed before its fix.

// send makes a request from any goroutine (apitest's Do may only be called
// from the test's own) and returns the status and body.
func send(s *apitest.Server, method, path string, v any, h http.Header) (int, []byte, error) {
	var rd *bytes.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if v != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	res, err := s.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(res.Body)
	return res.StatusCode, buf.Bytes(), err
}

func bearerAt(token, ip string) http.Header {
	h := apitest.Bearer(token)
	h.Set("X-Forwarded-For", ip)
	return h
}

// bothDatabases runs fn on PostgreSQL and on SQLite.
func bothDatabases(t *testing.T, fn func(t *testing.T, open func(testing.TB) *database.DB)) {
	for _, b := range []struct {
		name string
		open func(testing.TB) *database.DB
	}{{"postgres", dbtest.New}, {"sqlite", dbtest.NewSQLite}} {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

// TestBcryptEndpointsLimitedPerAccount (item 1): password change and account
// deletion are limited per account and per address like login, and a flood
// of them from one account holds at most its share of the hashing slots:
// another user's login still gets through while the flood runs.
func TestBcryptEndpointsLimitedPerAccount(t *testing.T) {
	t.Run("per-account/429", func(t *testing.T) {
		e := pgEnv(t, withTrustedLoopback(), withConfig(func(c *config.Auth) { c.RatePerAccount = 3 }))
		s := e.server(t)
		p := register(t, s, "flood-limit@example.com")
		for i := range 3 {
			ip := fmt.Sprintf("192.0.2.%d", i+1) // a new address each time: the account is what is limited
			r := s.Do("PUT", "/api/v1/users/me/password", body{"current_password": "not the password", "new_password": "whatever else"}, bearerAt(p.AccessToken, ip))
			expectProblem(t, r, http.StatusForbidden, "wrong_password")
		}
		for _, req := range []struct{ method, path string }{{"PUT", "/api/v1/users/me/password"}, {"DELETE", "/api/v1/users/me"}} {
			var b body
			if req.method == "PUT" {
				b = body{"current_password": testPassword, "new_password": "whatever else"}
			} else {
				b = body{"password": testPassword}
			}
			r := s.Do(req.method, req.path, b, bearerAt(p.AccessToken, "192.0.2.200"))
			expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
			if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("%s %s: Retry-After %q", req.method, req.path, r.Header.Get("Retry-After"))
			}
		}
		// Another account is not limited.
		q := register(t, s, "flood-limit-other@example.com")
		expectStatus(t, s.Do("PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": "a new password"}, apitest.Bearer(q.AccessToken)), http.StatusNoContent)
	})
	t.Run("per-address/429", func(t *testing.T) {
		e := pgEnv(t, withTrustedLoopback(), withConfig(func(c *config.Auth) { c.RatePerIP = 2 }))
		s := e.server(t)
		p := register(t, s, "flood-ip-a@example.com", xff("198.18.0.1"))
		q := register(t, s, "flood-ip-b@example.com", xff("198.18.0.2"))
		ip := "198.18.0.9"
		expectProblem(t, s.Do("DELETE", "/api/v1/users/me", body{"password": "wrong password"}, bearerAt(p.AccessToken, ip)), http.StatusForbidden, "wrong_password")
		expectProblem(t, s.Do("DELETE", "/api/v1/users/me", body{"password": "wrong password"}, bearerAt(q.AccessToken, ip)), http.StatusForbidden, "wrong_password")
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "flood-ip-a@example.com", "password": testPassword}, xff(ip)), http.StatusTooManyRequests, "rate_limited")
	})
	t.Run("flood-keeps-others-login", func(t *testing.T) {
		// One slot, a queue of 7: 8 positions, one a principal.
		e := pgEnv(t, withConfig(func(c *config.Auth) {
			c.HashSlots = 1
			c.HashQueue = 7
		}))
		s := e.server(t)
		flooder := register(t, s, "flooder@example.com")
		register(t, s, "victim@example.com")
		stop := make(chan struct{})
		var sent, wg = atomic.Int64{}, sync.WaitGroup{}
		for i := range 16 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					var st int
					var err error
					if i%2 == 0 {
						st, _, err = send(s, "DELETE", "/api/v1/users/me", body{"password": "wrong password"}, apitest.Bearer(flooder.AccessToken))
					} else {
						st, _, err = send(s, "PUT", "/api/v1/users/me/password", body{"current_password": "wrong password", "new_password": "a new password"}, apitest.Bearer(flooder.AccessToken))
					}
					if err != nil || st >= 500 && st != http.StatusServiceUnavailable {
						t.Errorf("flood request: %d %v", st, err)
						return
					}
					sent.Add(1)
				}
			})
		}
		for sent.Load() < 50 {
			time.Sleep(time.Millisecond)
		}
		for range 10 {
			st, b, err := send(s, "POST", "/api/v1/auth/login", body{"email": "victim@example.com", "password": testPassword}, nil)
			if err != nil || st != http.StatusOK {
				t.Errorf("the victim's login during the flood: %d %s %v", st, b, err)
			}
		}
		close(stop)
		wg.Wait()
	})
}

// holdSlot takes the only hashing slot (HashSlots = 1) for the test, so
// that requests queue behind it; release lets them run in arrival order.
func holdSlot(t *testing.T, e *env) (waitQueued func(n int), release func()) {
	t.Helper()
	slots := e.mod.svc.slots
	if err := slots.acquire(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { slots.release("test") }) }
	t.Cleanup(release)
	waitQueued = func(n int) {
		t.Helper()
		for range 5000 {
			if slots.queued() >= n {
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("fewer than %d requests queued for a hashing slot", n)
	}
	return waitQueued, release
}

// queueGate queues the test itself for a hashing slot, as a principal of
// its own, behind the requests already waiting, and returns once it waits
// (queued counts n waiters). A freed slot goes round robin among
// principals, so the account queued before the gate is served, then the
// gate, then the account's next request: that request's hashing waits
// until the test calls open, after the first request has answered (its
// write included), which the slot alone does not order.
func queueGate(t *testing.T, e *env, waitQueued func(int), n int) (open func()) {
	t.Helper()
	slots := e.mod.svc.slots
	granted := make(chan error, 1)
	go func() { granted <- slots.acquire(context.Background(), "gate") }()
	waitQueued(n)
	var once sync.Once
	open = func() {
		once.Do(func() {
			if err := <-granted; err != nil {
				t.Errorf("gate: %v", err)
				return
			}
			slots.release("gate")
		})
	}
	t.Cleanup(open)
	return open
}

type result struct {
	status int
	body   []byte
	err    error
}

func sendAsync(s *apitest.Server, method, path string, v any, h http.Header) <-chan result {
	ch := make(chan result, 1)
	go func() {
		st, b, err := send(s, method, path, v, h)
		ch <- result{st, b, err}
	}()
	return ch
}

// TestPasswordWritesRequireLiveSessionAndCheckedHash (item 2): the password
// is checked against a hash read before the wait for a hashing slot; the
// write must still require, in its transaction, that the caller's session
// is live and the hash is the one checked. The loser of a race gets 401 or
// 403, never 204.
func TestPasswordWritesRequireLiveSessionAndCheckedHash(t *testing.T) {
	slow := withConfig(func(c *config.Auth) {
		c.HashSlots = 1
		c.HashQueue = 16
	})
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		t.Run("session-revoked-while-waiting/401", func(t *testing.T) {
			e := newEnv(t, open(t), slow)
			s := e.server(t)
			p := register(t, s, "revoked-wait@example.com")
			waitQueued, release := holdSlot(t, e)
			change := sendAsync(s, "PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": "the attacker's password"}, apitest.Bearer(p.AccessToken))
			waitQueued(1)
			// The victim logs the stolen session out meanwhile.
			expectStatus(t, s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": p.RefreshToken}), http.StatusNoContent)
			release()
			r := <-change
			if r.err != nil || r.status != http.StatusUnauthorized {
				t.Fatalf("password change from a session revoked while it waited: %d %s %v; want 401", r.status, r.body, r.err)
			}
			login(t, s, "revoked-wait@example.com", testPassword)
		})
		t.Run("two-changes-at-once/one-wins", func(t *testing.T) {
			e := newEnv(t, open(t), slow)
			s := e.server(t)
			a := register(t, s, "two-changes@example.com")
			b := login(t, s, "two-changes@example.com", testPassword)
			waitQueued, release := holdSlot(t, e)
			first := sendAsync(s, "PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": "password of a"}, apitest.Bearer(a.AccessToken))
			waitQueued(1)
			openGate := queueGate(t, e, waitQueued, 2)
			second := sendAsync(s, "PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": "password of b"}, apitest.Bearer(b.AccessToken))
			waitQueued(3)
			release()
			r1 := <-first
			openGate()
			r2 := <-second
			if r1.status != http.StatusNoContent {
				t.Fatalf("first change: %d %s", r1.status, r1.body)
			}
			if r2.status != http.StatusUnauthorized && r2.status != http.StatusForbidden {
				t.Fatalf("second change, whose session the first revoked: %d %s; want 401 or 403", r2.status, r2.body)
			}
			login(t, s, "two-changes@example.com", "password of a")
			expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "two-changes@example.com", "password": "password of b"}), http.StatusUnauthorized, "invalid_credentials")
		})
		t.Run("delete-after-password-change/refused", func(t *testing.T) {
			e := newEnv(t, open(t), slow)
			s := e.server(t)
			owner := register(t, s, "delete-race@example.com")
			thief := login(t, s, "delete-race@example.com", testPassword)
			waitQueued, release := holdSlot(t, e)
			change := sendAsync(s, "PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": "the owner's new one"}, apitest.Bearer(owner.AccessToken))
			waitQueued(1)
			openGate := queueGate(t, e, waitQueued, 2)
			del := sendAsync(s, "DELETE", "/api/v1/users/me", body{"password": testPassword}, apitest.Bearer(thief.AccessToken))
			waitQueued(3)
			release()
			r := <-change
			openGate()
			if r.status != http.StatusNoContent {
				t.Fatalf("owner's change: %d %s", r.status, r.body)
			}
			if r := <-del; r.status != http.StatusUnauthorized && r.status != http.StatusForbidden {
				t.Fatalf("deletion with the old password by a session the change revoked: %d %s; want 401 or 403", r.status, r.body)
			}
			login(t, s, "delete-race@example.com", "the owner's new one")
		})
	})
}

// TestPasswordGuessingLimitedPerAccount (item 3): with a stolen access
// token, guesses of the current password through password change and
// account deletion count as failures of the account, like wrong logins,
// and are refused once its budget is spent.
func TestPasswordGuessingLimitedPerAccount(t *testing.T) {
	e := pgEnv(t, withTrustedLoopback(), withConfig(func(c *config.Auth) { c.FailuresPerAccount = 3 }))
	s := e.server(t)
	p := register(t, s, "guessed@example.com")
	thief := "203.0.113.66"
	locked := 0
	for i := range 40 {
		var r *apitest.Response
		if i%2 == 0 {
			r = s.Do("PUT", "/api/v1/users/me/password", body{"current_password": fmt.Sprintf("guess %d", i), "new_password": "pwned password"}, bearerAt(p.AccessToken, thief))
		} else {
			r = s.Do("DELETE", "/api/v1/users/me", body{"password": fmt.Sprintf("guess %d", i)}, bearerAt(p.AccessToken, thief))
		}
		switch r.Status {
		case http.StatusForbidden:
		case http.StatusTooManyRequests:
			locked++
		default:
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	// 3 free failures, a 4th that starts the backoff; the clock does not
	// move, so every later guess is refused.
	if locked != 36 {
		t.Fatalf("%d of 40 guesses refused, want 36", locked)
	}
	// The failures count against logins too…
	expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "guessed@example.com", "password": testPassword}, xff(thief)), http.StatusTooManyRequests, "rate_limited")
	// …but not for the owner, from an address of its own.
	login(t, s, "guessed@example.com", testPassword, xff("198.51.100.23"))
}

// TestLoginFailuresCountedPerAccount (item 4): the per-email budget counts
// failures, not attempts, and locks the account only against addresses
// that failed lately: whoever knows an email cannot keep its owner out.
func TestLoginFailuresCountedPerAccount(t *testing.T) {
	e := pgEnv(t, withTrustedLoopback(), withConfig(func(c *config.Auth) { c.FailuresPerAccount = 3 }))
	s := e.server(t)
	register(t, s, "owner@example.com")
	attacker := "203.0.113.9"
	for range 4 { // 3 free failures, then the 4th locks the account for 1 s
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "owner@example.com", "password": "guess"}, xff(attacker)), http.StatusUnauthorized, "invalid_credentials")
	}
	r := s.Do("POST", "/api/v1/auth/login", body{"email": " OWNER@example.com", "password": "guess"}, xff(attacker))
	expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q, want 1", r.Header.Get("Retry-After"))
	}
	// The backoff doubles with each failure after the lock.
	e.clock.Advance(time.Second)
	expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "owner@example.com", "password": "guess"}, xff(attacker)), http.StatusUnauthorized, "invalid_credentials")
	r = s.Do("POST", "/api/v1/auth/login", body{"email": "owner@example.com", "password": "guess"}, xff(attacker))
	expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After %q after the next failure, want 2", r.Header.Get("Retry-After"))
	}
	// The owner, from an address with no failures, logs in whatever the
	// attacker did, as often as it likes; so would anyone's correct password.
	for range 11 {
		login(t, s, "owner@example.com", testPassword, xff("198.51.100.7"))
	}
	// Many addresses spraying the email cannot lock the owner out either.
	for i := range 45 {
		st := s.Do("POST", "/api/v1/auth/login", body{"email": "owner@example.com", "password": "guess"}, xff(fmt.Sprintf("192.0.2.%d", i+1))).Status
		if st != http.StatusUnauthorized && st != http.StatusTooManyRequests {
			t.Fatalf("spray %d: %d", i, st)
		}
	}
	login(t, s, "owner@example.com", testPassword, xff("198.51.100.7"))
}

// TestRefreshStorageBounded (item 5): a spent refresh token is deleted at
// once, yet presenting it again still revokes its session (the token names
// its session under a MAC); refresh is limited per session; ended sessions
// are purged in the background, with their tokens.
func TestRefreshStorageBounded(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t), withConfig(func(c *config.Auth) { c.RefreshPerSession = 5 }))
		s := e.server(t)
		p := register(t, s, "refresh-storage@example.com")
		sid := sessionOf(t, e, p)
		first := p.RefreshToken
		for range 5 {
			r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken})
			expectStatus(t, r, http.StatusOK)
			r.JSON(&p)
		}
		n, err := e.db.Ent.RefreshToken.Query().Where(refreshtoken.SessionID(sid)).Count(t.Context())
		if err != nil || n != 1 {
			t.Fatalf("refresh tokens kept for a session refreshed 5 times: %d (%v), want 1", n, err)
		}
		r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken})
		expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
		e.clock.Advance(15 * time.Second)
		// The first token, long spent and deleted, is still known as reuse.
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": first}), http.StatusUnauthorized, "unauthorized")
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken)), http.StatusUnauthorized, "unauthorized")
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusUnauthorized, "unauthorized")
		// A forged token naming the session revokes nothing.
		other := login(t, s, "refresh-storage@example.com", testPassword)
		forged := forgeRefresh(t, sessionOf(t, e, other))
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": forged}), http.StatusUnauthorized, "unauthorized")
		expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(other.AccessToken)), http.StatusOK)

		// Ended sessions (the revoked one, and an expired one) are purged
		// with their tokens; the live one stays.
		expired := login(t, s, "refresh-storage@example.com", testPassword)
		if _, err := e.db.SQL.ExecContext(t.Context(), `UPDATE "sessions" SET "expires_at" = $1 WHERE "id" = $2`,
			dbTime(e.clock.Now().Add(-time.Second)), sessionOf(t, e, expired)); err != nil {
			t.Fatal(err)
		}
		n64, err := e.mod.svc.PurgeSessions(t.Context())
		if err != nil || n64 != 2 {
			t.Fatalf("purged %d sessions (%v), want 2", n64, err)
		}
		left, err := e.db.Ent.Session.Query().IDs(t.Context())
		if err != nil || len(left) != 1 || left[0] != sessionOf(t, e, other) {
			t.Fatalf("sessions left %v (%v), want only the live one", left, err)
		}
		if n, err := e.db.Ent.RefreshToken.Query().Count(t.Context()); err != nil || n != 1 {
			t.Fatalf("refresh tokens left %d (%v), want 1", n, err)
		}
	})
}

// forgeRefresh makes a token of the current form that names sessionID
// under a wrong MAC.
func forgeRefresh(t *testing.T, sessionID string) string {
	t.Helper()
	m := newTokenMaker([]byte("another secret, another secret, 32+"), "todo", "todo-api", time.Minute, time.Now, nil)
	tok, _, err := m.newRefresh(sessionID)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestRefreshRacingAccountDeletionNo500 (item 6): a refresh racing the
// deletion of its account, over HTTP and many times, answers 200 or 401,
// never a 500 (the rotation read its session and user in separate queries
// and dereferenced one the deletion had removed).
func TestRefreshRacingAccountDeletionNo500(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)
	for i := range 30 {
		email := fmt.Sprintf("race-refresh-%d@example.com", i)
		p := register(t, s, email)
		statuses := race(t,
			func() (int, []byte, error) {
				return send(s, "POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}, nil)
			},
			func() (int, []byte, error) {
				return send(s, "DELETE", "/api/v1/users/me", body{"password": testPassword}, apitest.Bearer(p.AccessToken))
			},
		)
		if statuses[1] != http.StatusNoContent && statuses[1] != http.StatusUnauthorized {
			t.Fatalf("round %d: delete %d", i, statuses[1])
		}
	}
}

// TestSessionsCappedPerUser (item 7): a user keeps at most AUTH_MAX_SESSIONS
// live sessions; a login beyond revokes the oldest, so the list stays
// bounded.
func TestSessionsCappedPerUser(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t), withConfig(func(c *config.Auth) {
			c.MaxSessions = 3
			c.SessionCacheTTL = time.Minute // evicted sessions must leave the cache too
		}))
		s := e.server(t)
		pairs := []pairJSON{register(t, s, "capped@example.com")}
		for range 4 {
			e.clock.Advance(time.Millisecond)
			pairs = append(pairs, login(t, s, "capped@example.com", testPassword))
		}
		for i, p := range pairs {
			want := http.StatusOK
			if i < 2 {
				want = http.StatusUnauthorized
			}
			if r := s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken)); r.Status != want {
				t.Errorf("session %d of 5: %d, want %d", i+1, r.Status, want)
			}
		}
		var list struct{ Items []sessionJSON }
		s.Do("GET", "/api/v1/users/me/sessions", nil, apitest.Bearer(pairs[4].AccessToken)).JSON(&list)
		if len(list.Items) != 3 {
			t.Fatalf("%d live sessions listed, want 3", len(list.Items))
		}
		n, err := e.db.Ent.Session.Query().Where(session.RevokedAtIsNil()).Count(t.Context())
		if err != nil || n != 3 {
			t.Fatalf("%d unrevoked sessions (%v), want 3", n, err)
		}
	})
}

// TestEmailsNormalisedAndVisible (item 8): emails are stored in NFC, and an
// email holding an invisible, bidirectional or control character is a 422,
// so two accounts cannot have emails that look the same.
func TestEmailsNormalisedAndVisible(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t))
		s := e.server(t)
		p := register(t, s, "jos\u00e9@example.com") // precomposed é
		r := s.Do("POST", "/api/v1/auth/register", body{"email": "jose\u0301@example.com", "name": "Twin", "password": testPassword})
		expectProblem(t, r, http.StatusConflict, "email_taken")
		// Logging in with the decomposed spelling finds the account.
		got := login(t, s, "JOSE\u0301@example.com", testPassword)
		if got.User.ID != p.User.ID || got.User.Email != "jos\u00e9@example.com" {
			t.Fatalf("login with the decomposed email: %+v", got.User)
		}
		for _, email := range []string{
			"a\u200b@example.com",          // zero-width space
			"\u202eexample@example.com",    // right-to-left override
			"ad\u2066min@example.com",      // left-to-right isolate
			"bell\u0007@example.com",       // control
			"nbsp\u00a0x@example.com",      // no-break space
			"fill\u3164@example.com",       // Hangul filler
			"vs\u2764\ufe0f@example.com",   // variation selector
			"\ufeffbom@example.com",        // byte order mark
			"soft\u00adhyphen@example.com", // soft hyphen
		} {
			r := s.Do("POST", "/api/v1/auth/register", body{"email": email, "name": "Hidden", "password": testPassword})
			expectProblem(t, r, http.StatusUnprocessableEntity, "validation_failed")
		}
		// A visible non-ASCII address is still fine.
		register(t, s, "\u00fcber@b\u00fccher.example")
	})
}

// TestReactivationRevivesNoSession (item 11): disabling an account ends its
// sessions for good; enabling it again lets its owner log in anew but
// revives none of the old tokens.
func TestReactivationRevivesNoSession(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t), withConfig(func(c *config.Auth) { c.SessionCacheTTL = time.Minute }))
		s := e.server(t)
		p := register(t, s, "revived@example.com")
		expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken)), http.StatusOK) // cached
		if _, err := e.mod.svc.SetActive(t.Context(), "Revived@example.com", false); err != nil {
			t.Fatal(err)
		}
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken)), http.StatusUnauthorized, "unauthorized")
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "revived@example.com", "password": testPassword}), http.StatusForbidden, "account_disabled")
		if _, err := e.mod.svc.SetActive(t.Context(), "revived@example.com", true); err != nil {
			t.Fatal(err)
		}
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken)), http.StatusUnauthorized, "unauthorized")
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusUnauthorized, "unauthorized")
		login(t, s, "revived@example.com", testPassword)
		if _, err := e.mod.svc.SetActive(t.Context(), "nobody@example.com", false); !errors.Is(err, ErrUserNotFound) {
			t.Fatalf("unknown email: %v", err)
		}
	})
}
