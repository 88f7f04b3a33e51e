package auth

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"todo/platform/apitest"
	"todo/platform/config"
)

// post sends a JSON body from any goroutine (apitest's Do may only be
// called from the test's own) and returns the status and body.
func post(s *apitest.Server, path string, v any) (int, []byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.Client().Post(s.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(res.Body)
	return res.StatusCode, buf.Bytes(), err
}

// race runs fns at once and returns their statuses.
func race(t *testing.T, fns ...func() (int, []byte, error)) []int {
	t.Helper()
	statuses := make([]int, len(fns))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			<-start
			st, b, err := fn()
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			if st >= 500 {
				t.Errorf("request %d: %d %s", i, st, b)
			}
			statuses[i] = st
		})
	}
	close(start)
	wg.Wait()
	return statuses
}

func count(statuses []int, status int) int {
	n := 0
	for _, s := range statuses {
		if s == status {
			n++
		}
	}
	return n
}

func TestRaceRegistrations(t *testing.T) {
	e := pgEnv(t, withConfig(func(c *config.Auth) { c.HashSlots = 8 }))
	s := e.server(t)
	emails := []string{"race@example.com", "RACE@example.com", "Race@Example.com", "race@EXAMPLE.COM",
		" race@example.com", "rAcE@example.com", "race@example.Com ", "RACE@EXAMPLE.COM"}
	fns := make([]func() (int, []byte, error), len(emails))
	for i, email := range emails {
		fns[i] = func() (int, []byte, error) {
			return post(s, "/api/v1/auth/register", body{"email": email, "name": "Racer", "password": testPassword})
		}
	}
	statuses := race(t, fns...)
	if count(statuses, http.StatusCreated) != 1 || count(statuses, http.StatusConflict) != 7 {
		t.Fatalf("statuses %v, want one 201 and seven 409", statuses)
	}
	n, err := e.db.Ent.User.Query().Count(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("%d users (err %v), want 1", n, err)
	}
}

func TestRaceRefreshReuse(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)
	refresh := func(token string) func() (int, []byte, error) {
		return func() (int, []byte, error) { return post(s, "/api/v1/auth/refresh", body{"refresh_token": token}) }
	}
	sessionRevoked := func(t *testing.T, p pairJSON) {
		t.Helper()
		sess, err := e.db.Ent.Session.Get(t.Context(), sessionOf(t, e, p))
		if err != nil {
			t.Fatal(err)
		}
		if sess.RevokedAt == nil {
			t.Errorf("session %s not revoked", sess.ID)
		}
	}
	for i := range 10 {
		// The same unspent token twice at once: one rotation at most, then reuse.
		p := register(t, s, "twin"+strings.Repeat("x", i)+"@example.com")
		statuses := race(t, refresh(p.RefreshToken), refresh(p.RefreshToken))
		if count(statuses, http.StatusOK) > 1 || count(statuses, http.StatusUnauthorized) < 1 {
			t.Fatalf("twin refresh statuses %v", statuses)
		}
		sessionRevoked(t, p)

		// A stolen, spent token races the legitimate client's current one.
		q := register(t, s, "stolen"+strings.Repeat("x", i)+"@example.com")
		var next pairJSON
		r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": q.RefreshToken})
		expectStatus(t, r, http.StatusOK)
		r.JSON(&next)
		statuses = race(t, refresh(q.RefreshToken), refresh(next.RefreshToken))
		if statuses[0] != http.StatusUnauthorized || count(statuses, http.StatusOK) > 1 {
			t.Fatalf("reuse race statuses %v", statuses)
		}
		sessionRevoked(t, q)
		expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(next.AccessToken)), http.StatusUnauthorized, "unauthorized")
	}
}
