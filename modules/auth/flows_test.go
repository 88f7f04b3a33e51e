package auth

import (
	"net/http"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/database/dbtest"
)

// databases are the two the service runs on; the main flows run on both.
var databases = []struct {
	name string
	open func(testing.TB) *database.DB
}{
	{"postgres", func(t testing.TB) *database.DB { return dbtest.New(t) }},
	{"sqlite", func(t testing.TB) *database.DB { return dbtest.NewSQLite(t) }},
}

func TestMainFlows(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			e := newEnv(t, db.open(t))
			s := e.server(t)
			t.Run("account-lifecycle", func(t *testing.T) { accountLifecycle(t, e, s) })
			t.Run("refresh-rotation-and-reuse", func(t *testing.T) { refreshRotation(t, e, s) })
			t.Run("sessions", func(t *testing.T) { sessionFlow(t, e, s) })
		})
	}
}

func accountLifecycle(t *testing.T, e *env, s *apitest.Server) {
	reg := register(t, s, "Life@Example.com")
	if reg.User.Email != "life@example.com" {
		t.Errorf("email %q", reg.User.Email)
	}
	expectProblem(t, s.Do("POST", "/api/v1/auth/register", body{"email": "LIFE@example.com", "name": "X", "password": testPassword}), http.StatusConflict, "email_taken")
	p := login(t, s, "life@example.com", testPassword)
	auth := apitest.Bearer(p.AccessToken)

	var u userJSON
	r := s.Do("PATCH", "/api/v1/users/me", body{"name": "Renamed"}, auth)
	expectStatus(t, r, http.StatusOK)
	r.JSON(&u)
	if u.Name != "Renamed" {
		t.Errorf("name %q", u.Name)
	}
	r = s.Do("GET", "/api/v1/users/me", nil, auth)
	expectStatus(t, r, http.StatusOK)
	r.JSON(&u)
	if u.Name != "Renamed" || u.ID != reg.User.ID {
		t.Errorf("user %+v", u)
	}
	expectStatus(t, s.Do("PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": "second password"}, auth), http.StatusNoContent)
	expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(reg.AccessToken)), http.StatusUnauthorized, "unauthorized")
	expectProblem(t, s.Do("DELETE", "/api/v1/users/me", body{"password": testPassword}, auth), http.StatusForbidden, "wrong_password")
	expectStatus(t, s.Do("DELETE", "/api/v1/users/me", body{"password": "second password"}, auth), http.StatusNoContent)
	expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, auth), http.StatusUnauthorized, "unauthorized")
	expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "life@example.com", "password": "second password"}), http.StatusUnauthorized, "invalid_credentials")
}

func refreshRotation(t *testing.T, e *env, s *apitest.Server) {
	p := register(t, s, "rotation@example.com")
	tokens := []string{p.RefreshToken}
	for range 3 {
		var q pairJSON
		r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": tokens[len(tokens)-1]})
		expectStatus(t, r, http.StatusOK)
		r.JSON(&q)
		expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(q.AccessToken)), http.StatusOK)
		tokens = append(tokens, q.RefreshToken)
	}
	// An old token comes back: the session ends, the newest token with it.
	expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": tokens[1]}), http.StatusUnauthorized, "unauthorized")
	expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": tokens[3]}), http.StatusUnauthorized, "unauthorized")

	q := login(t, s, "rotation@example.com", testPassword)
	expectStatus(t, s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": q.RefreshToken}), http.StatusNoContent)
	expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(q.AccessToken)), http.StatusUnauthorized, "unauthorized")
	expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": q.RefreshToken}), http.StatusUnauthorized, "unauthorized")
}

func sessionFlow(t *testing.T, e *env, s *apitest.Server) {
	a := register(t, s, "flow-sessions@example.com")
	e.clock.Advance(time.Second)
	b := login(t, s, "flow-sessions@example.com", testPassword, ua("phone"))
	var list struct{ Items []sessionJSON }
	r := s.Do("GET", "/api/v1/users/me/sessions", nil, apitest.Bearer(a.AccessToken))
	expectStatus(t, r, http.StatusOK)
	r.JSON(&list)
	if len(list.Items) != 2 || list.Items[0].UserAgent != "phone" || list.Items[0].Current || !list.Items[1].Current {
		t.Fatalf("sessions %+v", list.Items)
	}
	expectStatus(t, s.Do("DELETE", "/api/v1/users/me/sessions/"+list.Items[0].ID, nil, apitest.Bearer(a.AccessToken)), http.StatusNoContent)
	expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(b.AccessToken)), http.StatusUnauthorized, "unauthorized")
	r = s.Do("GET", "/api/v1/users/me/sessions", nil, apitest.Bearer(a.AccessToken))
	r.JSON(&list)
	if len(list.Items) != 1 || !list.Items[0].Current {
		t.Fatalf("sessions %+v", list.Items)
	}
}

func TestLastUsedAtThrottled(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)
	p := register(t, s, "touch@example.com")
	sid := sessionOf(t, e, p)
	lastUsed := func() time.Time {
		t.Helper()
		sess, err := e.db.Ent.Session.Get(t.Context(), sid)
		if err != nil {
			t.Fatal(err)
		}
		return sess.LastUsedAt
	}
	start := lastUsed()
	e.clock.Advance(10 * time.Second)
	expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken)), http.StatusOK)
	first := lastUsed()
	if !first.After(start) {
		t.Fatalf("last_used_at not written on first use: %v, was %v", first, start)
	}
	e.clock.Advance(30 * time.Second)
	expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken)), http.StatusOK)
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("last_used_at written twice within a minute: %v then %v", first, got)
	}
	e.clock.Advance(31 * time.Second)
	expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken)), http.StatusOK)
	if got := lastUsed(); !got.After(first) {
		t.Errorf("last_used_at not written a minute later: %v", got)
	}
	e.clock.Advance(5 * time.Second)
	before := dbTime(e.clock.Now())
	expectStatus(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusOK)
	if got := lastUsed(); !got.Equal(before) {
		t.Errorf("refresh did not set last_used_at: %v, want %v", got, before)
	}
}

func TestBcryptCostUpgrade(t *testing.T) {
	db := dbtest.New(t)
	low := newEnv(t, db) // cost 4
	register(t, low.server(t), "upgrade@example.com")
	costOf := func() int {
		t.Helper()
		u, err := db.Ent.User.Query().Only(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		c, err := bcrypt.Cost([]byte(u.HashedPassword))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := costOf(); c != 4 {
		t.Fatalf("registered at cost %d, want 4", c)
	}

	high := newEnv(t, db, withConfig(func(c *config.Auth) { c.BcryptCost = 5 }))
	s := high.server(t)
	expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "upgrade@example.com", "password": "wrong password"}), http.StatusUnauthorized, "invalid_credentials")
	if c := costOf(); c != 4 {
		t.Fatalf("a failed login re-hashed: cost %d", c)
	}
	login(t, s, "upgrade@example.com", testPassword)
	if c := costOf(); c != 5 {
		t.Fatalf("after login at configured cost 5 the hash has cost %d", c)
	}
	login(t, s, "upgrade@example.com", testPassword)
	// A hash above the configured cost is left as it is.
	login(t, low.server(t), "upgrade@example.com", testPassword)
	if c := costOf(); c != 5 {
		t.Fatalf("a lower configured cost re-hashed down to %d", c)
	}
}

// TestLoginUnknownEmailCostsABcrypt: a login for an unknown email is
// checked against a dummy hash at the configured cost, so it does the same
// bcrypt work as a wrong password (the timings themselves are measured by
// BenchmarkLoginWrongVersusUnknown, not asserted here).
func TestLoginUnknownEmailCostsABcrypt(t *testing.T) {
	e := pgEnv(t, withConfig(func(c *config.Auth) { c.BcryptCost = 6 }))
	cost, err := bcrypt.Cost(e.mod.svc.dummy)
	if err != nil || cost != 6 {
		t.Fatalf("the dummy hash has cost %d (%v), want the configured 6", cost, err)
	}
	s := e.server(t)
	expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "unknown@example.com", "password": "wrong password"}), http.StatusUnauthorized, "invalid_credentials")
}
