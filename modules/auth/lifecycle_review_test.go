package auth

import (
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/database/dbtest"
)

// TestUnmailableEmailsNo500: an email the contract accepts but no mail can
// be addressed to (dots at the ends of the local part or two in a row,
// which some providers hand out) must not make register a 500 now that
// register mails it; nor may an account that already has one (registered
// before mail existed) make a reset request a 500 — which, answered 202 for
// every unknown email, would tell that the account exists.
func TestUnmailableEmailsNo500(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t))
		e.mod.svc.resetFloor = 0
		s := e.server(t)
		for _, email := range []string{"dots..inarow@example.com", ".leading@example.com", "trailing.@example.com"} {
			r := s.Do("POST", "/api/v1/auth/register", body{"email": email, "name": "Dots", "password": testPassword})
			expectProblem(t, r, http.StatusUnprocessableEntity, "validation_failed")
		}
		// An account that has such an email already: the same 202 as any
		// email, and no mail that could not be sent.
		p := register(t, s, "plain@example.com")
		if err := e.db.Ent.User.UpdateOneID(p.User.ID).SetEmail("old..style@example.com").Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		known := s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "old..style@example.com"})
		unknown := s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "no..one@example.com"})
		expectStatus(t, known, http.StatusAccepted)
		expectStatus(t, unknown, http.StatusAccepted)
		if string(known.Body) != string(unknown.Body) {
			t.Errorf("bodies differ: %s vs %s", known.Body, unknown.Body)
		}
		// A verification request says plainly that no mail can reach it.
		r := s.Do("POST", "/api/v1/auth/verify-email/request", nil, apitest.Bearer(p.AccessToken))
		expectProblem(t, r, http.StatusUnprocessableEntity, "validation_failed")
		if n := len(e.outbox.to(t, "old..style@example.com")); n != 0 {
			t.Errorf("%d mails queued to an address no mail can go to", n)
		}
	})
}

// TestVerificationMailsLimitedPerAddress: the hourly limit on verification
// mails was per account, and register mailed every new account: anyone
// could register someone else's address, delete the account (they chose its
// password), register again, and mail that inbox as often as registrations
// are allowed (AUTH_RATE_PER_EMAIL, 20 a minute). An address is now sent at
// most one verification mail more than an account may ask for
// (AUTH_MAILS_PER_HOUR, plus register's) an hour, whatever accounts ask;
// registering goes on without the mail past that. A registration that
// fails (the email is taken) costs the address nothing.
func TestVerificationMailsLimitedPerAddress(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t), withConfig(func(c *config.Auth) { c.MailsPerHour = 2 }))
		s := e.server(t)
		const victim = "victim-inbox@example.com"
		for range 5 {
			p := register(t, s, victim)
			for range 3 {
				r := s.Do("POST", "/api/v1/auth/verify-email/request", nil, apitest.Bearer(p.AccessToken))
				if r.Status != http.StatusAccepted {
					expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
				}
			}
			expectStatus(t, s.Do("DELETE", "/api/v1/users/me", body{"password": testPassword}, apitest.Bearer(p.AccessToken)), http.StatusNoContent)
		}
		if n := len(e.outbox.to(t, victim)); n != 3 {
			t.Fatalf("%d verification mails to one address within the hour, want 3 (register's and 2 asked for)", n)
		}

		// Failed registrations of a taken email spend nothing of its budget.
		const owner = "owner-inbox@example.com"
		p := register(t, s, owner)
		for range 3 {
			r := s.Do("POST", "/api/v1/auth/register", body{"email": owner, "name": "Squatter", "password": testPassword})
			expectProblem(t, r, http.StatusConflict, "email_taken")
		}
		for range 2 {
			expectStatus(t, s.Do("POST", "/api/v1/auth/verify-email/request", nil, apitest.Bearer(p.AccessToken)), http.StatusAccepted)
		}
		if n := len(e.outbox.to(t, owner)); n != 3 {
			t.Fatalf("%d mails to the owner, want register's and the two asked for", n)
		}
		// An hour later the address may be mailed again.
		e.clock.Advance(time.Hour)
		register(t, s, victim)
		if n := len(e.outbox.to(t, victim)); n != 4 {
			t.Fatalf("%d verification mails after the hour, want 4", n)
		}
	})
}

// TestResetLinksDieWithPasswordChangeAndDisable: a reset link mailed
// before the owner changed the password, or before an operator disabled
// the account, kept working for its hour: whoever reads the old mail later
// (a mailbox that was, or is, someone else's) set the password — after an
// enable too, which is to revive nothing. Changing the password, and
// enabling a disabled account, spend every reset token of the account.
func TestResetLinksDieWithPasswordChangeAndDisable(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t))
		e.mod.svc.resetFloor = 0
		s := e.server(t)

		p := register(t, s, "changed-meanwhile@example.com")
		expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "changed-meanwhile@example.com"}), http.StatusAccepted)
		tok := lastToken(t, e, "changed-meanwhile@example.com", "reset-password")
		expectStatus(t, s.Do("PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": "the owner's new password"},
			apitest.Bearer(p.AccessToken)), http.StatusNoContent)
		expectProblem(t, s.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": tok, "new_password": "whoever read the mail"}),
			http.StatusBadRequest, "invalid_token")
		login(t, s, "changed-meanwhile@example.com", "the owner's new password")

		register(t, s, "disabled-meanwhile@example.com")
		expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "disabled-meanwhile@example.com"}), http.StatusAccepted)
		tok = lastToken(t, e, "disabled-meanwhile@example.com", "reset-password")
		admin := NewAdmin(e.db.Ent, e.db.Dialect, e.clock.Now)
		for _, active := range []bool{false, true} {
			if _, err := admin.SetActive(t.Context(), "disabled-meanwhile@example.com", active); err != nil {
				t.Fatal(err)
			}
		}
		expectProblem(t, s.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": tok, "new_password": "whoever read the mail"}),
			http.StatusBadRequest, "invalid_token")
		login(t, s, "disabled-meanwhile@example.com", testPassword)
	})
}

// TestLimiterMemoryBounded: a limiter keeps a key until its budget is
// whole again, which for the hourly mail limits is 12 minutes after a
// single reset request (AUTH_MAILS_PER_HOUR 5). Reset requests for made-up
// emails from many client addresses (an IPv6 /48 alone is 65,536 of them,
// each allowed 60 a minute) grew the table by a few hundred bytes each, with
// no bound but the request rate. Every limiter keeps at most
// maxLimiterKeys, and still limits the keys it holds.
func TestLimiterMemoryBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l := newLimiter(5, time.Hour)
	for i := range maxLimiterKeys + 1000 {
		l.allow("reset:made-up-"+strconv.Itoa(i)+"@example.com", t0.Add(time.Duration(i)*time.Microsecond))
	}
	if n := l.size(); n > maxLimiterKeys {
		t.Fatalf("%d keys held within one period, bound %d", n, maxLimiterKeys)
	}
	now := t0.Add(time.Second)
	for i := range 6 {
		ok, _ := l.allow("reset:victim@example.com", now)
		if ok != (i < 5) {
			t.Fatalf("attempt %d on a full table: allowed %v", i+1, ok)
		}
	}
}

// TestPasswordResetRequestRacingDeletion: a reset request whose account is
// deleted between its lookup and its insert of the token answered 401 — on
// an endpoint that needs no token, and whose one answer is 202 whatever
// the email. It is the same 202, with no mail.
func TestPasswordResetRequestRacingDeletion(t *testing.T) {
	e := pgEnv(t)
	e.mod.svc.resetFloor = 0
	s := e.server(t)
	for i := range 40 {
		email := "reset-req-race-" + strconv.Itoa(i) + "@example.com"
		p := register(t, s, email)
		st := race(t,
			func() (int, []byte, error) {
				return send(s, "POST", "/api/v1/auth/password-reset/request", body{"email": email}, nil)
			},
			func() (int, []byte, error) {
				return send(s, "DELETE", "/api/v1/users/me", body{"password": testPassword}, apitest.Bearer(p.AccessToken))
			},
		)
		if st[0] != http.StatusAccepted {
			t.Errorf("round %d: reset request answered %d, want 202", i, st[0])
		}
	}
}

// TestExpiredAccountTokensPurged: verification and reset tokens were never
// deleted: every register, verification request and reset request for an
// existing account left a row for good (an index on expires_at, and no
// purge using it), so requests for known emails grew the table without
// bound. The module's background jobs delete the expired ones; a usable
// token stays.
func TestExpiredAccountTokensPurged(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t))
		e.mod.svc.resetFloor = 0
		s := e.server(t)
		register(t, s, "purged-tokens@example.com")
		expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "purged-tokens@example.com"}), http.StatusAccepted)
		e.clock.Advance(e.cfg.VerifyTTL + time.Minute) // both expired
		expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "purged-tokens@example.com"}), http.StatusAccepted)
		usable := lastToken(t, e, "purged-tokens@example.com", "reset-password")

		for _, j := range e.mod.Jobs(slog.New(slog.DiscardHandler)) {
			if err := j.Run(t.Context()); err != nil {
				t.Fatalf("job %q: %v", j.Name, err)
			}
		}
		left, err := e.db.Ent.AccountToken.Query().All(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0].Hash != hashToken(usable) {
			t.Fatalf("%d tokens left after the purge, want only the usable one", len(left))
		}
		expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": usable, "new_password": "a brand new password"}), http.StatusNoContent)
	})
}

// TestEnablingRevivesNoOldExternalToken: enabling a disabled account
// revives none of its old sessions; an external account has its issuer's
// tokens instead, and one issued before the disabling (a stolen one, the
// reason for disabling) worked again the moment the account was enabled,
// until its exp (the issuer's choice: minutes or days). A token issued
// after the disabling works once the account is enabled.
func TestEnablingRevivesNoOldExternalToken(t *testing.T) {
	ed := newSigningKey(t, "EdDSA", "ed-1")
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t), withIssuer(newTestIssuer(t, ed)))
		s := e.server(t)
		old := ed.sign(t, extClaims(e.clock.Now(), "ext-disabled", "ext-disabled@example.com"))
		me(t, s, old)
		admin := NewAdmin(e.db.Ent, e.db.Dialect, e.clock.Now)
		if _, err := admin.SetActive(t.Context(), "ext-disabled@example.com", false); err != nil {
			t.Fatal(err)
		}
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(old)), http.StatusUnauthorized, "unauthorized")
		e.clock.Advance(externalLeeway + 2*time.Second)
		if _, err := admin.SetActive(t.Context(), "ext-disabled@example.com", true); err != nil {
			t.Fatal(err)
		}
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(old)), http.StatusUnauthorized, "unauthorized")
		fresh := ed.sign(t, extClaims(e.clock.Now(), "ext-disabled", "ext-disabled@example.com"))
		if u := me(t, s, fresh); u.ID != "ext-disabled" || !u.IsActive {
			t.Errorf("a token issued after the disabling: %+v", u)
		}
	})
}

// TestTakenExternalEmailCostsNoWriteLock: anyone who can sign up at the
// external issuer with the email of an account here (someone else's) got a
// 409 on every request only after trying to insert the account — a write
// transaction each time, SQLite's one write lock, for a request that can
// only fail; likewise a token whose changed email is taken tried the UPDATE
// each time. A taken email is found by a read first. Here another writer
// holds the write lock: the requests must still be the 409, not a 503 once
// SQLite's busy timeout ran out.
func TestTakenExternalEmailCostsNoWriteLock(t *testing.T) {
	ed := newSigningKey(t, "EdDSA", "ed-1")
	e := newEnv(t, dbtest.NewSQLite(t), withIssuer(newTestIssuer(t, ed)))
	s := e.server(t)
	register(t, s, "taken-by-local@example.com")
	me(t, s, ed.sign(t, extClaims(e.clock.Now(), "ext-mover", "ext-mover@example.com")))

	tx, err := e.db.SQL.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(t.Context(), `UPDATE "users" SET "name" = 'held' WHERE 0`); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"first-sight":  ed.sign(t, extClaims(e.clock.Now(), "ext-squatter", "taken-by-local@example.com")),
		"email-change": ed.sign(t, extClaims(e.clock.Now(), "ext-mover", "taken-by-local@example.com")),
	} {
		r := s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(tok))
		if r.Status != http.StatusConflict {
			t.Errorf("%s: %d %s, want 409 email_taken without waiting for the write lock", name, r.Status, r.Body)
		}
	}
}

// TestDeletedExternalAccountTokenCostsNoWriteLock: a token issued before
// its external account was deleted is refused for good, but only after a
// write transaction was opened to check the deletion (SQLite's one write
// lock) on every request: a stolen token of a deleted account could hold
// up every writer. The deletion is read first.
func TestDeletedExternalAccountTokenCostsNoWriteLock(t *testing.T) {
	ed := newSigningKey(t, "EdDSA", "ed-1")
	e := newEnv(t, dbtest.NewSQLite(t), withIssuer(newTestIssuer(t, ed)))
	s := e.server(t)
	old := ed.sign(t, extClaims(e.clock.Now(), "ext-gone", "ext-gone@example.com"))
	me(t, s, old)
	expectStatus(t, s.Do("DELETE", "/api/v1/users/me", nil, apitest.Bearer(old)), http.StatusNoContent)

	tx, err := e.db.SQL.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(t.Context(), `UPDATE "users" SET "name" = 'held' WHERE 0`); err != nil {
		t.Fatal(err)
	}
	expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(old)), http.StatusUnauthorized, "unauthorized")
}
