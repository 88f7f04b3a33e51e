package auth

import (
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"todo/ent"
	"todo/ent/accounttoken"
	"todo/ent/mailoutbox"
	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/mail"
)

// testOutbox reads the mail the module queued from the real outbox table,
// in the order it was queued, and counts the nudges of the mail worker.
type testOutbox struct {
	db    *database.DB
	wakes atomic.Int32
}

func (o *testOutbox) wake() { o.wakes.Add(1) }

// queued is a mail in the outbox.
type queued struct {
	To, Subject, Body, Secret string
}

// to returns the mails queued for addr, oldest first.
func (o *testOutbox) to(t *testing.T, addr string) []queued {
	t.Helper()
	rows, err := o.db.Ent.MailOutbox.Query().Where(mailoutbox.ToAddr(addr)).Order(ent.Asc(mailoutbox.FieldID)).All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]queued, len(rows))
	for i, r := range rows {
		out[i] = queued{To: r.ToAddr, Subject: r.Subject, Body: r.Body}
		if r.Secret != nil {
			out[i].Secret = *r.Secret
		}
	}
	return out
}

var tokenInLink = regexp.MustCompile(`^https://todo\.example/(verify-email|reset-password)\?token=` + regexp.QuoteMeta(mail.SecretMarker) + `$`)

// tokenOf checks a mail's link and returns the token it carries, and the
// page the link opens.
func tokenOf(t *testing.T, m queued) (page, token string) {
	t.Helper()
	for _, line := range strings.Split(m.Body, "\n") {
		if sub := tokenInLink.FindStringSubmatch(line); sub != nil {
			if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(m.Secret) {
				t.Fatalf("token %q is not 256 bits of [A-Za-z0-9_-]", m.Secret)
			}
			return sub[1], m.Secret
		}
	}
	t.Fatalf("no link in the mail:\n%s", m.Body)
	return "", ""
}

// lastToken is the token of the newest mail to addr, which must open page.
func lastToken(t *testing.T, e *env, addr, page string) string {
	t.Helper()
	mails := e.outbox.to(t, addr)
	if len(mails) == 0 {
		t.Fatalf("no mail to %s", addr)
	}
	p, tok := tokenOf(t, mails[len(mails)-1])
	if p != page {
		t.Fatalf("the mail to %s opens %s, want %s", addr, p, page)
	}
	return tok
}

func TestEmailVerification(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t), withConfig(func(c *config.Auth) { c.MailsPerHour = 2 }))
		s := e.server(t)
		p := register(t, s, "verify@example.com")
		if p.User.EmailVerified {
			t.Fatal("a new account is verified")
		}
		// Register sends the first mail; its token is stored only hashed.
		tok := lastToken(t, e, "verify@example.com", "verify-email")
		if n, _ := e.db.Ent.AccountToken.Query().Where(accounttoken.Hash(tok)).Count(t.Context()); n != 0 {
			t.Fatal("the token is stored in clear")
		}
		if e.outbox.wakes.Load() == 0 {
			t.Error("register did not wake the mail sender")
		}
		// Asking again sends another, up to the hourly limit.
		expectStatus(t, s.Do("POST", "/api/v1/auth/verify-email/request", nil, apitest.Bearer(p.AccessToken)), http.StatusAccepted)
		expectStatus(t, s.Do("POST", "/api/v1/auth/verify-email/request", nil, apitest.Bearer(p.AccessToken)), http.StatusAccepted)
		expectProblem(t, s.Do("POST", "/api/v1/auth/verify-email/request", nil, apitest.Bearer(p.AccessToken)), http.StatusTooManyRequests, "rate_limited")
		if n := len(e.outbox.to(t, "verify@example.com")); n != 3 {
			t.Fatalf("%d mails, want 3", n)
		}
		expectProblem(t, s.Do("POST", "/api/v1/auth/verify-email/request", nil), http.StatusUnauthorized, "unauthorized")

		// Any of them verifies, with no access token; then all are spent.
		r := s.Do("POST", "/api/v1/auth/verify-email", body{"token": tok})
		expectStatus(t, r, http.StatusOK)
		var u userJSON
		r.JSON(&u)
		if !u.EmailVerified || u.ID != p.User.ID {
			t.Fatalf("verify: %+v", u)
		}
		expectProblem(t, s.Do("POST", "/api/v1/auth/verify-email", body{"token": tok}), http.StatusBadRequest, "invalid_token")
		later := lastToken(t, e, "verify@example.com", "verify-email")
		expectProblem(t, s.Do("POST", "/api/v1/auth/verify-email", body{"token": later}), http.StatusBadRequest, "invalid_token")

		// A verified account asking again gets no mail.
		e.clock.Advance(time.Hour)
		p = login(t, s, "verify@example.com", testPassword)
		if !p.User.EmailVerified {
			t.Error("login after verification: email_verified false")
		}
		expectStatus(t, s.Do("POST", "/api/v1/auth/verify-email/request", nil, apitest.Bearer(p.AccessToken)), http.StatusAccepted)
		if n := len(e.outbox.to(t, "verify@example.com")); n != 3 {
			t.Fatalf("a verified account was mailed again: %d mails", n)
		}
	})
}

func TestEmailVerificationRefusals(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t))
		s := e.server(t)
		p := register(t, s, "refused@example.com")
		tok := lastToken(t, e, "refused@example.com", "verify-email")
		for _, tc := range []struct{ name, token string }{
			{"malformed", "not-a-token"},
			{"too-long", strings.Repeat("A", 44)},
			{"unknown", strings.Repeat("A", 43)},
			{"reset-token-for-verify", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				token := tc.token
				if token == "" {
					expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "refused@example.com"}), http.StatusAccepted)
					token = lastToken(t, e, "refused@example.com", "reset-password")
				}
				expectProblem(t, s.Do("POST", "/api/v1/auth/verify-email", body{"token": token}), http.StatusBadRequest, "invalid_token")
			})
		}
		// A token mailed to an address the account no longer has proves
		// nothing about the new one.
		if err := e.db.Ent.User.UpdateOneID(p.User.ID).SetEmail("changed@example.com").Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		expectProblem(t, s.Do("POST", "/api/v1/auth/verify-email", body{"token": tok}), http.StatusBadRequest, "invalid_token")
		// Expired.
		q := register(t, s, "expired@example.com")
		tok = lastToken(t, e, "expired@example.com", "verify-email")
		e.clock.Advance(e.cfg.VerifyTTL)
		expectProblem(t, s.Do("POST", "/api/v1/auth/verify-email", body{"token": tok}), http.StatusBadRequest, "invalid_token")
		// Of a deleted account.
		e.clock.Advance(-e.cfg.VerifyTTL)
		expectStatus(t, s.Do("DELETE", "/api/v1/users/me", body{"password": testPassword}, apitest.Bearer(q.AccessToken)), http.StatusNoContent)
		expectProblem(t, s.Do("POST", "/api/v1/auth/verify-email", body{"token": tok}), http.StatusBadRequest, "invalid_token")
		expectProblem(t, s.Do("POST", "/api/v1/auth/verify-email", body{"token": nil}, apitest.Mismatch("a null token")), http.StatusUnprocessableEntity, "validation_failed")
		expectProblem(t, s.Do("POST", "/api/v1/auth/verify-email", body{"token": "\x00" + tok[1:]}), http.StatusUnprocessableEntity, "validation_failed")
	})
}

func TestPasswordReset(t *testing.T) {
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		e := newEnv(t, open(t))
		e.mod.svc.resetFloor = 0
		s := e.server(t)
		p := register(t, s, "reset@example.com")
		other := login(t, s, "reset@example.com", testPassword)

		// The same answer for an account and for none; a mail only for one.
		known := s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": " Reset@Example.com "})
		unknown := s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "nobody@example.com"})
		expectStatus(t, known, http.StatusAccepted)
		expectStatus(t, unknown, http.StatusAccepted)
		if string(known.Body) != string(unknown.Body) {
			t.Fatalf("bodies differ: %s vs %s", known.Body, unknown.Body)
		}
		if n := len(e.outbox.to(t, "nobody@example.com")); n != 0 {
			t.Fatalf("%d mails to an email with no account", n)
		}
		first := lastToken(t, e, "reset@example.com", "reset-password")
		// A second request does not revoke the first…
		expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "reset@example.com"}), http.StatusAccepted)
		second := lastToken(t, e, "reset@example.com", "reset-password")
		if first == second {
			t.Fatal("two requests mailed one token")
		}
		// …but using one spends both.
		expectProblem(t, s.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": first, "new_password": "short"}, apitest.Mismatch("a short password")), http.StatusUnprocessableEntity, "validation_failed")
		expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": first, "new_password": "a brand new password"}), http.StatusNoContent)
		expectProblem(t, s.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": first, "new_password": "another password"}), http.StatusBadRequest, "invalid_token")
		expectProblem(t, s.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": second, "new_password": "another password"}), http.StatusBadRequest, "invalid_token")

		// Every session is revoked; the new password works, the old does not;
		// the mail reached the address, so it counts as verified.
		for _, pair := range []pairJSON{p, other} {
			expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(pair.AccessToken)), http.StatusUnauthorized, "unauthorized")
			expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": pair.RefreshToken}), http.StatusUnauthorized, "unauthorized")
		}
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "reset@example.com", "password": testPassword}), http.StatusUnauthorized, "invalid_credentials")
		if got := login(t, s, "reset@example.com", "a brand new password"); !got.User.EmailVerified {
			t.Error("a completed reset left the email unverified")
		}

		// Expired tokens, and a verification token, are refused.
		expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "reset@example.com"}), http.StatusAccepted)
		stale := lastToken(t, e, "reset@example.com", "reset-password")
		e.clock.Advance(e.cfg.ResetTTL)
		expectProblem(t, s.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": stale, "new_password": "another password"}), http.StatusBadRequest, "invalid_token")
		register(t, s, "verify-not-reset@example.com")
		vt := lastToken(t, e, "verify-not-reset@example.com", "verify-email")
		expectProblem(t, s.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": vt, "new_password": "another password"}), http.StatusBadRequest, "invalid_token")
		expectProblem(t, s.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": "garbage", "new_password": "another password"}), http.StatusBadRequest, "invalid_token")
	})
}

func TestPasswordResetDisabledAccount(t *testing.T) {
	e := pgEnv(t)
	e.mod.svc.resetFloor = 0
	s := e.server(t)
	register(t, s, "disabled-reset@example.com")
	expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "disabled-reset@example.com"}), http.StatusAccepted)
	tok := lastToken(t, e, "disabled-reset@example.com", "reset-password")
	if _, err := NewAdmin(e.db.Ent, e.db.Dialect, e.clock.Now).SetActive(t.Context(), "disabled-reset@example.com", false); err != nil {
		t.Fatal(err)
	}
	// A disabled account gets no mail, and cannot spend an earlier token.
	expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "disabled-reset@example.com"}), http.StatusAccepted)
	if n := len(e.outbox.to(t, "disabled-reset@example.com")); n != 2 { // register's and the first reset's
		t.Fatalf("%d mails, want 2", n)
	}
	expectProblem(t, s.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": tok, "new_password": "a new password"}), http.StatusForbidden, "account_disabled")
}

func TestPasswordResetLimits(t *testing.T) {
	e := pgEnv(t, withTrustedLoopback(), withConfig(func(c *config.Auth) {
		c.MailsPerHour = 2
		c.RatePerIP = 4
	}))
	e.mod.svc.resetFloor = 0
	s := e.server(t)
	register(t, s, "limited-reset@example.com")
	// Per email, whether or not it has an account: a 429 tells nothing.
	for _, email := range []string{"limited-reset@example.com", "ghost@example.com"} {
		for i := range 3 {
			r := s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": email}, xff("192.0.2."+string(rune('1'+i))))
			if i < 2 {
				expectStatus(t, r, http.StatusAccepted)
			} else {
				expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
			}
		}
	}
	// Per address, with everything else that takes a password.
	ip := xff("198.51.100.44")
	for i := range 4 {
		expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "a" + string(rune('a'+i)) + "@example.com"}, ip), http.StatusAccepted)
	}
	expectProblem(t, s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": "zz@example.com"}, ip), http.StatusTooManyRequests, "rate_limited")
	expectProblem(t, s.Do("POST", "/api/v1/auth/password-reset/confirm", body{"token": strings.Repeat("A", 43), "new_password": "a new password"}, ip), http.StatusTooManyRequests, "rate_limited")
}

// TestPasswordResetRacingDeletion: a reset confirmed while its account is
// deleted answers 204 or 400, never a 500 (no deadlock between the reset's
// locks and the cascade's).
func TestPasswordResetRacingDeletion(t *testing.T) {
	e := pgEnv(t)
	e.mod.svc.resetFloor = 0
	s := e.server(t)
	for i := range 15 {
		email := "reset-race-" + string(rune('a'+i)) + "@example.com"
		p := register(t, s, email)
		expectStatus(t, s.Do("POST", "/api/v1/auth/password-reset/request", body{"email": email}), http.StatusAccepted)
		tok := lastToken(t, e, email, "reset-password")
		st := race(t,
			func() (int, []byte, error) {
				return send(s, "POST", "/api/v1/auth/password-reset/confirm", body{"token": tok, "new_password": "a new password"}, nil)
			},
			func() (int, []byte, error) {
				return send(s, "DELETE", "/api/v1/users/me", body{"password": testPassword}, apitest.Bearer(p.AccessToken))
			},
		)
		if st[0] != http.StatusNoContent && st[0] != http.StatusBadRequest {
			t.Fatalf("round %d: confirm %d", i, st[0])
		}
	}
}
