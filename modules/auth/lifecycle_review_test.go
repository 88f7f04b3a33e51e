package auth

import (
	"net/http"
	"testing"

	"todo/platform/apitest"
	"todo/platform/database"
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
