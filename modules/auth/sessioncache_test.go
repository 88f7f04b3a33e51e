package auth

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"todo/platform/apitest"
	"todo/platform/config"
)

func TestSessionCache(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const ttl = 10 * time.Second
	farAway := t0.Add(24 * time.Hour)

	t.Run("hit-only-for-its-user", func(t *testing.T) {
		c := newSessionCache(ttl, 1000)
		if c.live("s1", "u1", t0) {
			t.Fatal("hit on an empty cache")
		}
		c.put("s1", "u1", farAway, t0, c.generation())
		if !c.live("s1", "u1", t0) {
			t.Error("miss right after put")
		}
		if c.live("s1", "u2", t0) {
			t.Error("hit for another user's token naming the session")
		}
		if c.live("s2", "u1", t0) {
			t.Error("hit for another session")
		}
	})
	t.Run("expires-by-ttl", func(t *testing.T) {
		c := newSessionCache(ttl, 1000)
		c.put("s1", "u1", farAway, t0, c.generation())
		if !c.live("s1", "u1", t0.Add(ttl-time.Nanosecond)) {
			t.Error("miss just before the TTL")
		}
		if c.live("s1", "u1", t0.Add(ttl)) {
			t.Error("hit at the TTL")
		}
		if c.live("s1", "u1", t0.Add(-time.Second)) {
			t.Error("hit for an entry from the future (clock stepped back)")
		}
	})
	t.Run("expires-with-the-session", func(t *testing.T) {
		c := newSessionCache(ttl, 1000)
		c.put("s1", "u1", t0.Add(3*time.Second), t0, c.generation())
		if !c.live("s1", "u1", t0.Add(3*time.Second-time.Nanosecond)) {
			t.Error("miss before the session expires")
		}
		if c.live("s1", "u1", t0.Add(3*time.Second)) {
			t.Error("hit once the session expired, within the TTL")
		}
	})
	t.Run("invalidate-session", func(t *testing.T) {
		c := newSessionCache(ttl, 1000)
		c.put("s1", "u1", farAway, t0, c.generation())
		c.put("s2", "u1", farAway, t0, c.generation())
		c.invalidate("s1")
		if c.live("s1", "u1", t0) {
			t.Error("hit after invalidate")
		}
		if !c.live("s2", "u1", t0) {
			t.Error("invalidate dropped another session")
		}
	})
	t.Run("invalidate-user", func(t *testing.T) {
		c := newSessionCache(ttl, 1000)
		for i := range 50 {
			c.put(fmt.Sprintf("a%d", i), "u1", farAway, t0, c.generation())
			c.put(fmt.Sprintf("b%d", i), "u2", farAway, t0, c.generation())
		}
		c.invalidateUser("u1")
		for i := range 50 {
			if c.live(fmt.Sprintf("a%d", i), "u1", t0) {
				t.Fatalf("session a%d of the invalidated user still hits", i)
			}
			if !c.live(fmt.Sprintf("b%d", i), "u2", t0) {
				t.Fatalf("session b%d of another user dropped", i)
			}
		}
		if n := c.len(); n != 50 {
			t.Errorf("%d entries left, want 50", n)
		}
	})
	t.Run("put-after-invalidation-is-dropped", func(t *testing.T) {
		// A check that started before a revocation may have read the
		// session before it was revoked: it must not be cached.
		c := newSessionCache(ttl, 1000)
		gen := c.generation()
		c.invalidate("s1")
		c.put("s1", "u1", farAway, t0, gen)
		if c.live("s1", "u1", t0) {
			t.Error("a check older than an invalidation was cached")
		}
		gen = c.generation()
		c.invalidateUser("u9")
		c.put("s1", "u1", farAway, t0, gen)
		if c.live("s1", "u1", t0) {
			t.Error("a check older than a user invalidation was cached")
		}
	})
	t.Run("bounded", func(t *testing.T) {
		const limit = 4 * cacheShards
		c := newSessionCache(ttl, limit)
		for i := range 20 * limit {
			c.put(fmt.Sprintf("s%d", i), "u1", farAway, t0, c.generation())
			if n := c.len(); n > limit {
				t.Fatalf("%d entries after %d puts, limit %d", n, i+1, limit)
			}
		}
		// The newest entry is always kept.
		if !c.live(fmt.Sprintf("s%d", 20*limit-1), "u1", t0) {
			t.Error("the newest entry was evicted")
		}
		// Stale entries go first: after the TTL, fill one full shard with as
		// many fresh entries as it holds, and every fresh one is still there.
		later := t0.Add(ttl)
		target := c.shard("fresh-probe")
		var fresh []string
		for i := 0; len(fresh) < limit/cacheShards; i++ {
			if k := fmt.Sprintf("fresh%d", i); c.shard(k) == target {
				fresh = append(fresh, k)
			}
		}
		for _, k := range fresh {
			c.put(k, "u1", farAway, later, c.generation())
		}
		for _, k := range fresh {
			if !c.live(k, "u1", later) {
				t.Fatalf("%s evicted while stale entries were left in its shard", k)
			}
		}
	})
	t.Run("hit-does-not-allocate", func(t *testing.T) {
		c := newSessionCache(ttl, 1000)
		c.put("0b5d8c9e-3f2a-4d6b-9a1e-7c4f2b8d6e10", "u1", farAway, t0, c.generation())
		allocs := testing.AllocsPerRun(100, func() {
			if !c.live("0b5d8c9e-3f2a-4d6b-9a1e-7c4f2b8d6e10", "u1", t0) {
				t.Fatal("miss")
			}
		})
		if allocs != 0 {
			t.Errorf("%v allocations per hit", allocs)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		c := newSessionCache(ttl, 2*cacheShards)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range 2000 {
					sid, uid := fmt.Sprintf("s%d", i%300), fmt.Sprintf("u%d", i%7)
					now := t0.Add(time.Duration(i) * time.Millisecond)
					switch (i + w) % 10 {
					case 0:
						c.invalidate(sid)
					case 1:
						c.invalidateUser(uid)
					case 2, 3, 4:
						c.put(sid, uid, farAway, now, c.generation())
					default:
						c.live(sid, uid, now)
					}
				}
			})
		}
		wg.Wait()
		if n := c.len(); n > 2*cacheShards {
			t.Errorf("%d entries, limit %d", n, 2*cacheShards)
		}
	})
}

// withSessionCache turns the session cache on with a TTL no test outlasts
// unless it moves the clock.
func withSessionCache() option {
	return withConfig(func(a *config.Auth) { a.SessionCacheTTL = config.MaxSessionCacheTTL })
}

// TestSessionCacheStopsAtOnce: with the cache on, every revocation made
// through this process still stops the token on its very next request,
// although that request's session was cached just before: on PostgreSQL
// without a listener, and on SQLite, whose one process evicts in itself.
func TestSessionCacheStopsAtOnce(t *testing.T) {
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) { testSessionCacheStopsAtOnce(t, newEnv(t, d.open(t), withSessionCache())) })
	}
}

func testSessionCacheStopsAtOnce(t *testing.T, e *env) {
	s := e.server(t)
	me := func(p pairJSON) *apitest.Response {
		return s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken))
	}

	cases := []struct {
		name string
		// end revokes p's session through the API; other is a second
		// session of the same user, already cached.
		end func(t *testing.T, p, other pairJSON)
	}{
		{"logout", func(t *testing.T, p, other pairJSON) {
			expectStatus(t, s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": p.RefreshToken}), http.StatusNoContent)
			expectStatus(t, me(other), http.StatusOK)
		}},
		{"logout-with-spent-token", func(t *testing.T, p, other pairJSON) {
			expectStatus(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusOK)
			expectStatus(t, s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": p.RefreshToken}), http.StatusNoContent)
			expectStatus(t, me(other), http.StatusOK)
		}},
		{"session-revoked", func(t *testing.T, p, other pairJSON) {
			expectStatus(t, s.Do("DELETE", "/api/v1/users/me/sessions/"+sessionOf(t, e, p), nil, apitest.Bearer(other.AccessToken)), http.StatusNoContent)
			expectStatus(t, me(other), http.StatusOK)
		}},
		{"refresh-reuse", func(t *testing.T, p, other pairJSON) {
			expectStatus(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusOK)
			expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusUnauthorized, "unauthorized")
			expectStatus(t, me(other), http.StatusOK)
		}},
		{"password-changed-elsewhere", func(t *testing.T, p, other pairJSON) {
			expectStatus(t, s.Do("PUT", "/api/v1/users/me/password", body{"current_password": testPassword, "new_password": "new password 123"}, apitest.Bearer(other.AccessToken)), http.StatusNoContent)
			// The caller's own session survives its password change.
			expectStatus(t, me(other), http.StatusOK)
		}},
		{"account-deleted", func(t *testing.T, p, other pairJSON) {
			expectStatus(t, s.Do("DELETE", "/api/v1/users/me", body{"password": testPassword}, apitest.Bearer(other.AccessToken)), http.StatusNoContent)
			expectProblem(t, me(other), http.StatusUnauthorized, "unauthorized")
		}},
	}
	for i, tc := range cases {
		t.Run("stop-cached/"+tc.name+"/401", func(t *testing.T) {
			p := register(t, s, fmt.Sprintf("cached%d@example.com", i))
			other := login(t, s, p.User.Email, testPassword)
			// Both sessions are in the cache.
			expectStatus(t, me(p), http.StatusOK)
			expectStatus(t, me(other), http.StatusOK)
			tc.end(t, p, other)
			for _, path := range []string{"/api/v1/users/me", "/api/v1/users/me/sessions"} {
				expectProblem(t, s.Do("GET", path, nil, apitest.Bearer(p.AccessToken)), http.StatusUnauthorized, "unauthorized")
			}
		})
	}
}

// TestSessionCacheTradeOff documents what the cache gives up: a change made
// behind the service's back (here an operator deactivating a user with
// SQL, as another instance's revocation would be) is seen only once the
// cached check is older than AUTH_SESSION_CACHE_TTL. Without the cache it
// is seen at once.
func TestSessionCacheTradeOff(t *testing.T) {
	t.Run("cache-on/deactivated-user/200-until-ttl-then-401", func(t *testing.T) {
		e := pgEnv(t, withSessionCache())
		s := e.server(t)
		p := register(t, s, "tradeoff@example.com")
		auth := apitest.Bearer(p.AccessToken)
		expectStatus(t, s.Do("GET", "/api/v1/users/me/sessions", nil, auth), http.StatusOK)
		deactivate(t, e, p.User.ID)
		// The hit skipped the database, which would have said 401.
		e.clock.Advance(e.cfg.SessionCacheTTL - time.Millisecond)
		expectStatus(t, s.Do("GET", "/api/v1/users/me/sessions", nil, auth), http.StatusOK)
		e.clock.Advance(time.Millisecond)
		expectProblem(t, s.Do("GET", "/api/v1/users/me/sessions", nil, auth), http.StatusUnauthorized, "unauthorized")
		// A negative answer is never cached: reactivated, it works at once.
		if err := e.db.Ent.User.UpdateOneID(p.User.ID).SetIsActive(true).Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		expectStatus(t, s.Do("GET", "/api/v1/users/me/sessions", nil, auth), http.StatusOK)
	})
	t.Run("cache-off/deactivated-user/401-at-once", func(t *testing.T) {
		e := pgEnv(t)
		s := e.server(t)
		p := register(t, s, "strict@example.com")
		auth := apitest.Bearer(p.AccessToken)
		expectStatus(t, s.Do("GET", "/api/v1/users/me/sessions", nil, auth), http.StatusOK)
		deactivate(t, e, p.User.ID)
		expectProblem(t, s.Do("GET", "/api/v1/users/me/sessions", nil, auth), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("cache-on/session-expiry-ends-a-cached-session/401", func(t *testing.T) {
		e := pgEnv(t, withSessionCache(), withConfig(func(a *config.Auth) { a.RefreshTTL = 10 * time.Second }))
		s := e.server(t)
		p := register(t, s, "expiring@example.com")
		auth := apitest.Bearer(p.AccessToken)
		expectStatus(t, s.Do("GET", "/api/v1/users/me/sessions", nil, auth), http.StatusOK)
		// Well within the cache's TTL, but past the session's end.
		e.clock.Advance(10 * time.Second)
		expectProblem(t, s.Do("GET", "/api/v1/users/me/sessions", nil, auth), http.StatusUnauthorized, "unauthorized")
	})
}
