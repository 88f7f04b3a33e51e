package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/database/dbtest"
)

// The regression tests of the third adversarial review of the account
// endpoints (docs/reliability.md); each failed before its fix.

// TestIPv6ClientsLimitedPerPrefix: a client on IPv6 holds a whole /64
// (2^64 addresses), so limits keyed by the full address are no limits: a
// new address per request escaped the per-address rate limit, the failure
// lock (which applies only to addresses that failed lately) and the
// per-principal share of the hashing slots. An IPv6 client is its /64.
func TestIPv6ClientsLimitedPerPrefix(t *testing.T) {
	addr := func(i int) string { return fmt.Sprintf("2001:db8:a:b::%x", i+1) }
	t.Run("rate", func(t *testing.T) {
		e := pgEnv(t, withTrustedLoopback(), withConfig(func(c *config.Auth) { c.RatePerIP = 2 }))
		s := e.server(t)
		for i := range 2 {
			expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "v6-rate@example.com", "password": "guess"}, xff(addr(i))), http.StatusUnauthorized, "invalid_credentials")
		}
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "v6-rate@example.com", "password": "guess"}, xff(addr(2))), http.StatusTooManyRequests, "rate_limited")
		// Another /64 is another client.
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "v6-rate@example.com", "password": "guess"}, xff("2001:db8:a:c::1")), http.StatusUnauthorized, "invalid_credentials")
	})
	t.Run("failure-lock", func(t *testing.T) {
		e := pgEnv(t, withTrustedLoopback(), withConfig(func(c *config.Auth) { c.FailuresPerAccount = 1 }))
		s := e.server(t)
		register(t, s, "v6-lock@example.com")
		locked := 0
		for i := range 20 {
			r := s.Do("POST", "/api/v1/auth/login", body{"email": "v6-lock@example.com", "password": fmt.Sprintf("guess %d", i)}, xff(addr(i)))
			switch r.Status {
			case http.StatusUnauthorized:
			case http.StatusTooManyRequests:
				locked++
			default:
				t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
			}
		}
		// One free failure, a second that locks: the clock does not move,
		// so the other 18 are refused.
		if locked != 18 {
			t.Fatalf("%d of 20 guesses from one /64 refused, want 18", locked)
		}
		login(t, s, "v6-lock@example.com", testPassword, xff("2001:db8:ffff::1"))
	})
	t.Run("hashing-share", func(t *testing.T) {
		// One slot and a queue of 7: one position per principal.
		e := pgEnv(t, withTrustedLoopback(), withConfig(func(c *config.Auth) {
			c.HashSlots = 1
			c.HashQueue = 7
		}))
		s := e.server(t)
		waitQueued, release := holdSlot(t, e)
		first := sendAsync(s, "POST", "/api/v1/auth/login", body{"email": "v6-share@example.com", "password": "guess"}, xff(addr(0)))
		waitQueued(1)
		st, b, err := send(s, "POST", "/api/v1/auth/login", body{"email": "v6-share@example.com", "password": "guess"}, xff(addr(1)))
		if err != nil || st != http.StatusTooManyRequests {
			t.Errorf("a second login from the same /64 while the first waits: %d %s %v; want 429", st, b, err)
		}
		release()
		if r := <-first; r.status != http.StatusUnauthorized {
			t.Fatalf("first: %d %s", r.status, r.body)
		}
	})
}

// TestClientKey: the principal a client address stands for in the limits.
func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                 "192.0.2.7",
		"::ffff:192.0.2.7":          "192.0.2.7",
		"2001:db8:a:b:1:2:3:4":      "2001:db8:a:b::/64",
		"2001:DB8:A:B::9":           "2001:db8:a:b::/64",
		"fe80::1%eth0":              "fe80::/64",
		"not an address":            "not an address",
		"":                          "",
		"2001:db8:a:c:ffff::ffff:1": "2001:db8:a:c::/64",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFailureLockHoldsForConcurrentGuesses: the failure lock was checked
// only before the wait for a hashing slot, so guesses sent together all
// passed it before the first of them failed: each window of the backoff
// gave as many guesses as a client's share of the slots, not one. The lock
// is checked again once the slot is held.
func TestFailureLockHoldsForConcurrentGuesses(t *testing.T) {
	e := pgEnv(t, withTrustedLoopback(), withConfig(func(c *config.Auth) {
		c.FailuresPerAccount = 0 // every failure locks
		c.HashSlots = 1
		c.HashQueue = 31 // four positions per principal
	}))
	s := e.server(t)
	register(t, s, "concurrent-guess@example.com")
	thief := "203.0.113.77"
	guess := func(i int) body {
		return body{"email": "concurrent-guess@example.com", "password": fmt.Sprintf("guess %d", i)}
	}
	// The first failure locks the account for a second against the thief.
	expectProblem(t, s.Do("POST", "/api/v1/auth/login", guess(0), xff(thief)), http.StatusUnauthorized, "invalid_credentials")
	expectProblem(t, s.Do("POST", "/api/v1/auth/login", guess(1), xff(thief)), http.StatusTooManyRequests, "rate_limited")
	e.clock.Advance(time.Second)
	// The lock is over: the thief sends four guesses at once.
	waitQueued, release := holdSlot(t, e)
	var results []<-chan result
	for i := range 4 {
		results = append(results, sendAsync(s, "POST", "/api/v1/auth/login", guess(i+2), xff(thief)))
	}
	waitQueued(4)
	release()
	checked := 0
	for _, ch := range results {
		r := <-ch
		switch r.status {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("guess: %d %s %v", r.status, r.body, r.err)
		}
	}
	if checked != 1 {
		t.Fatalf("%d of 4 concurrent guesses were checked after the lock ended, want 1", checked)
	}
}

// TestFailureBackoffOutlastsItsLongestLock: a failure was forgotten after
// max(AUTH_FAILURE_BACKOFF_MAX, 15 min) without another, which is exactly
// when the longest lock ends; so whoever waited out that lock found the
// account's record reset and its free failures whole again. After the
// longest lock the next failure must lock for as long again.
func TestFailureBackoffOutlastsItsLongestLock(t *testing.T) {
	e := pgEnv(t, withTrustedLoopback(), withConfig(func(c *config.Auth) {
		c.FailuresPerAccount = 3
		c.FailureBackoffMax = 15 * time.Minute
	}))
	s := e.server(t)
	register(t, s, "longest-lock@example.com")
	thief := "203.0.113.78"
	guess := func() *apitest.Response {
		return s.Do("POST", "/api/v1/auth/login", body{"email": "longest-lock@example.com", "password": "guess"}, xff(thief))
	}
	// Fail until the lock reaches its longest, waiting out each lock.
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatal("the lock never reached AUTH_FAILURE_BACKOFF_MAX")
		}
		r := guess()
		if r.Status == http.StatusUnauthorized {
			continue
		}
		expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
		ra := r.Header.Get("Retry-After")
		if ra == "900" {
			break
		}
		wait, err := time.ParseDuration(ra + "s")
		if err != nil {
			t.Fatalf("Retry-After %q", ra)
		}
		e.clock.Advance(wait)
	}
	e.clock.Advance(15 * time.Minute) // the longest lock is over
	expectProblem(t, guess(), http.StatusUnauthorized, "invalid_credentials")
	r := guess()
	expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") != "900" {
		t.Errorf("Retry-After %q after a failure following the longest lock, want 900", r.Header.Get("Retry-After"))
	}
}

// TestLoginRacingDisableRevivesNoSession: a login that checked the password
// of an active account while an operator disabled it opened its session
// after the disabling had revoked the others; enabling the account again
// later revived that session. The session is opened only if the account is
// still active, in the same transaction.
func TestLoginRacingDisableRevivesNoSession(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t))
		s := e.server(t)
		p := register(t, s, "race-disable@example.com")
		svc := e.mod.svc
		orig := svc.now
		calls := 0
		svc.now = func() time.Time {
			if calls++; calls == 2 { // Login: limits, then newSession after the check
				if _, err := svc.store.setActive(context.Background(), p.User.Email, false, dbTime(orig())); err != nil {
					t.Errorf("disable: %v", err)
				}
			}
			return orig()
		}
		r := s.Do("POST", "/api/v1/auth/login", body{"email": "race-disable@example.com", "password": testPassword})
		svc.now = orig
		if _, err := svc.SetActive(t.Context(), "race-disable@example.com", true); err != nil {
			t.Fatal(err)
		}
		if r.Status == http.StatusOK {
			var pair pairJSON
			r.JSON(&pair)
			if g := s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(pair.AccessToken)); g.Status == http.StatusOK {
				t.Fatalf("a login racing the disabling kept a session the enabling revived")
			}
			return
		}
		expectProblem(t, r, http.StatusForbidden, "account_disabled")
	})
}

// TestSignedInGuessesLockedAcrossAddresses: with a stolen access token, the
// current password could be guessed from a new address each time (any
// botnet or proxy pool) without ever meeting the account's failure lock,
// which spared every address that had not failed lately. A signed-in
// password check is also refused while the account is locked and its
// session failed lately; the owner's other sessions are not.
func TestSignedInGuessesLockedAcrossAddresses(t *testing.T) {
	e := pgEnv(t, withTrustedLoopback(), withConfig(func(c *config.Auth) { c.FailuresPerAccount = 2 }))
	s := e.server(t)
	stolen := register(t, s, "stolen-token@example.com")
	owner := login(t, s, "stolen-token@example.com", testPassword, xff("198.51.100.40"))
	refused := 0
	for i := range 20 {
		ip := fmt.Sprintf("192.0.2.%d", i+1)
		r := s.Do("DELETE", "/api/v1/users/me", body{"password": fmt.Sprintf("guess %d", i)}, bearerAt(stolen.AccessToken, ip))
		switch r.Status {
		case http.StatusForbidden:
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	// Two free failures, a third that locks; the clock does not move.
	if refused != 17 {
		t.Fatalf("%d of 20 guesses from 20 addresses refused, want 17", refused)
	}
	// The owner's own session, from an address of its own, is not locked.
	expectStatus(t, s.Do("PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": "the owner's new one"}, bearerAt(owner.AccessToken, "198.51.100.40")), http.StatusNoContent)
}

// TestEmailRefusesBlankPatterns: U+2800 BRAILLE PATTERN BLANK is a symbol
// that renders as white space; it passed as a visible character, so two
// addresses differing only by it (or by it and a space the eye reads in
// its place) looked the same.
func TestEmailRefusesBlankPatterns(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)
	r := s.Do("POST", "/api/v1/auth/register", body{"email": "blank\u2800@example.com", "name": "Blank", "password": testPassword})
	expectProblem(t, r, http.StatusUnprocessableEntity, "validation_failed")
	// A visible braille pattern is a character like any other.
	register(t, s, "braille\u2801@example.com")
}

// TestOldFormTokenReuseRevokesSession: a refresh token of the older,
// opaque form names no session, so the service recognises its reuse only
// by its stored row. Spending one deleted the row like a token of the
// current form, so whoever presented it second — the owner or a thief who
// had copied it — got a plain 401 and the session stayed with the first:
// the reuse detection lost for every client still holding an old token.
// An old-form token is kept, marked spent, until its session ends.
func TestOldFormTokenReuseRevokesSession(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t))
		s := e.server(t)
		p := register(t, s, "old-form@example.com")
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			t.Fatal(err)
		}
		old := base64.RawURLEncoding.EncodeToString(raw) // as the service made them before
		if err := e.db.Ent.RefreshToken.Create().SetID(hashToken(old)).SetSessionID(sessionOf(t, e, p)).
			SetCreatedAt(dbTime(e.clock.Now())).Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		// The thief spends the copied token first…
		r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": old})
		expectStatus(t, r, http.StatusOK)
		var thief pairJSON
		r.JSON(&thief)
		// …and the owner's presentation of it is reuse: the session ends.
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": old}), http.StatusUnauthorized, "unauthorized")
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(thief.AccessToken)), http.StatusUnauthorized, "unauthorized")
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": thief.RefreshToken}), http.StatusUnauthorized, "unauthorized")
		// The spent token goes with its session when that is purged.
		if n, err := e.mod.svc.PurgeSessions(t.Context()); err != nil || n != 1 {
			t.Fatalf("purged %d (%v), want 1", n, err)
		}
		if n, err := e.db.Ent.RefreshToken.Query().Count(t.Context()); err != nil || n != 0 {
			t.Fatalf("%d refresh tokens left (%v), want 0", n, err)
		}
	})
}

// TestForgedRefreshTokensCostNoWriteLock: every refresh began a write
// transaction before looking its token up, so garbage from anyone, with no
// limit, took SQLite's one write lock (BEGIN IMMEDIATE) and a PostgreSQL
// transaction each: a flood of made-up tokens slowed every writer of the
// service (task creation's p99 rose about fivefold in a local run) and,
// while another writer held the lock, each made-up token waited out the
// busy timeout and answered 503. A token that cannot be one the service
// issued (neither the current form under a valid MAC nor the older form's
// 32 bytes) is refused before any query, and one of the older form is
// looked up before any write.
func TestForgedRefreshTokensCostNoWriteLock(t *testing.T) {
	e := newEnv(t, dbtest.NewSQLite(t))
	s := e.server(t)
	p := register(t, s, "forged-flood@example.com")
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	// Another writer holds the write lock meanwhile.
	tx, err := e.db.SQL.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(t.Context(), `UPDATE "users" SET "name" = 'held' WHERE 0`); err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{
		"garbage":       "not a token at all",
		"huge":          strings.Repeat("A", 100_000),
		"forged-mac":    forgeRefresh(t, sessionOf(t, e, p)),
		"unknown-old":   base64.RawURLEncoding.EncodeToString(raw),
		"old-wrong-len": base64.RawURLEncoding.EncodeToString(raw[:31]),
	} {
		start := time.Now()
		r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": token})
		expectProblem(t, r, http.StatusUnauthorized, "unauthorized")
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: answered after %v, waiting for the write lock", name, d)
		}
		expectStatus(t, s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": token}), http.StatusNoContent)
	}
}
