package auth

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/database/dbtest"
)

// testRedisAddr is the Redis the tests share (TEST_REDIS_ADDR overrides);
// each test writes under a key prefix of its own and deletes its keys.
func testRedisAddr() string {
	if a := os.Getenv("TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// testRedis returns a client of the shared test Redis and a key prefix
// that no other test uses; the keys under it are deleted when t ends. It
// fails, never skips, when Redis does not answer.
func testRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testRedisAddr(), MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis on %s: %v (install and start redis-server; bash .ci/run does)", testRedisAddr(), err)
	}
	var b [8]byte
	_, _ = crand.Read(b[:])
	prefix := "todo-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

// privateRedis is a redis-server of the test's own, on a free port and in
// a temporary directory, without persistence, for a test that stops it.
type privateRedis struct {
	addr string
	dir  string
	cmd  *exec.Cmd
}

func startPrivateRedis(t testing.TB, addr string) *privateRedis {
	t.Helper()
	if addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		_ = ln.Close()
	}
	_, port, _ := net.SplitHostPort(addr)
	r := &privateRedis{addr: addr, dir: t.TempDir()}
	r.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "")
	var out bytes.Buffer
	r.cmd.Stdout, r.cmd.Stderr = &out, &out
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(r.stop)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer func() { _ = c.Close() }()
	for i := 0; ; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return r
		}
		if i == 100 {
			t.Fatalf("redis-server on %s did not answer:\n%s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills the server (SIGKILL: as if its machine went away).
func (r *privateRedis) stop() {
	if r.cmd.Process != nil && r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

// wallClock is a movable real clock for the circuit of sharedLimits.
type wallClock struct{ c *clock }

func (w wallClock) now() time.Time { return w.c.Now() }

func newTestShared(rdb redis.Scripter, prefix string, timeout time.Duration, logs *syncBuffer) *sharedLimits {
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return newSharedLimits(rdb, prefix, timeout, log)
}

func sharedLimiter(s *sharedLimits, n int, period time.Duration) *limiter {
	l := newLimiter(n, period)
	l.name, l.shared = "test", s
	return l
}

func sharedFailures(s *sharedLimits, free int) *failures {
	f := newFailures(free, time.Second, 8*time.Second, time.Minute, 1000)
	f.name, f.shared = "test-fail", s
	return f
}

// TestSharedLimits: two instances sharing Redis count against one budget,
// and the Redis scripts decide exactly as the in-memory tables do.
func TestSharedLimits(t *testing.T) {
	t.Run("limiter/one-budget-for-two-instances", func(t *testing.T) {
		rdb1, prefix := testRedis(t)
		rdb2 := redis.NewClient(&redis.Options{Addr: testRedisAddr()})
		t.Cleanup(func() { _ = rdb2.Close() })
		a := sharedLimiter(newTestShared(rdb1, prefix, time.Second, &syncBuffer{}), 4, time.Minute)
		b := sharedLimiter(newTestShared(rdb2, prefix, time.Second, &syncBuffer{}), 4, time.Minute)
		now := time.Now()
		for i, l := range []*limiter{a, b, a, b} {
			if ok, _ := l.allow("1.2.3.4", now); !ok {
				t.Fatalf("attempt %d refused within the budget of 4", i+1)
			}
		}
		for name, l := range map[string]*limiter{"a": a, "b": b} {
			ok, wait := l.allow("1.2.3.4", now)
			if ok || wait <= 0 || wait > 15*time.Second {
				t.Fatalf("instance %s: 5th attempt allowed=%v wait=%v, want refused with a wait of at most 15s", name, ok, wait)
			}
			if !l.full("1.2.3.4", now) {
				t.Errorf("instance %s: full says no at the limit", name)
			}
		}
		if ok, _ := b.allow("5.6.7.8", now); !ok {
			t.Fatal("another key shares the budget")
		}
		// One interval later, one attempt, on either instance.
		later := now.Add(15 * time.Second)
		if b.full("1.2.3.4", later) {
			t.Fatal("full after an interval")
		}
		if ok, _ := b.allow("1.2.3.4", later); !ok {
			t.Fatal("refused after an interval")
		}
		if ok, _ := a.allow("1.2.3.4", later); ok {
			t.Fatal("a second attempt after one interval")
		}
		// No email or address is stored in Redis, only digests.
		keys, err := rdb1.Keys(context.Background(), prefix+"*").Result()
		if err != nil || len(keys) != 2 {
			t.Fatalf("keys %v, %v; want 2", keys, err)
		}
		for _, k := range keys {
			if strings.Contains(k, "1.2.3.4") || strings.Contains(k, "5.6.7.8") {
				t.Errorf("key %q holds the client address", k)
			}
			ttl := rdb1.PTTL(context.Background(), k).Val()
			if ttl <= 0 || ttl > time.Minute+time.Second {
				t.Errorf("key %q expires in %v, want within the period", k, ttl)
			}
		}
	})

	t.Run("limiter/same-decisions-as-memory", func(t *testing.T) {
		rdb, prefix := testRedis(t)
		shared := sharedLimiter(newTestShared(rdb, prefix, time.Second, &syncBuffer{}), 5, time.Minute)
		local := newLimiter(5, time.Minute)
		r := rand.New(rand.NewPCG(1, 2))
		now := time.Now().Truncate(time.Microsecond)
		for i := range 400 {
			now = now.Add(time.Duration(r.IntN(4000)) * time.Millisecond)
			key := fmt.Sprint("k", r.IntN(3))
			if i%5 == 0 {
				if s, l := shared.full(key, now), local.full(key, now); s != l {
					t.Fatalf("step %d: full shared=%v local=%v", i, s, l)
				}
				continue
			}
			sOK, sWait := shared.allow(key, now)
			lOK, lWait := local.allow(key, now)
			if sOK != lOK || (sWait-lWait).Abs() > time.Microsecond {
				t.Fatalf("step %d: shared (%v, %v), local (%v, %v)", i, sOK, sWait, lOK, lWait)
			}
		}
	})

	t.Run("failures/backoff-for-two-instances", func(t *testing.T) {
		rdb1, prefix := testRedis(t)
		rdb2 := redis.NewClient(&redis.Options{Addr: testRedisAddr()})
		t.Cleanup(func() { _ = rdb2.Close() })
		a := sharedFailures(newTestShared(rdb1, prefix, time.Second, &syncBuffer{}), 2)
		b := sharedFailures(newTestShared(rdb2, prefix, time.Second, &syncBuffer{}), 2)
		now := time.Now().Truncate(time.Microsecond) // Redis keeps microseconds
		a.fail("who@example.com", now)
		b.fail("who@example.com", now)
		if d := a.lockedFor("who@example.com", now); d != 0 {
			t.Fatalf("locked for %v after the free failures", d)
		}
		a.fail("who@example.com", now)
		for name, f := range map[string]*failures{"a": a, "b": b} {
			if d := f.lockedFor("who@example.com", now); d != time.Second {
				t.Errorf("instance %s: locked for %v after a third failure, want 1s", name, d)
			}
			if !f.recent("who@example.com", now.Add(59*time.Second)) || f.recent("who@example.com", now.Add(time.Minute)) {
				t.Errorf("instance %s: recent is wrong around the forget window", name)
			}
		}
		b.fail("who@example.com", now)
		if d := a.lockedFor("who@example.com", now); d != 2*time.Second {
			t.Errorf("locked for %v after a fourth failure on the other instance, want 2s", d)
		}
		if d := a.lockedFor("other@example.com", now); d != 0 || a.recent("other@example.com", now) {
			t.Error("a key never failed is locked or recent")
		}
	})

	t.Run("failures/same-decisions-as-memory", func(t *testing.T) {
		rdb, prefix := testRedis(t)
		shared := sharedFailures(newTestShared(rdb, prefix, time.Second, &syncBuffer{}), 2)
		local := newFailures(2, time.Second, 8*time.Second, time.Minute, 1000)
		r := rand.New(rand.NewPCG(3, 4))
		now := time.Now().Truncate(time.Microsecond)
		for i := range 300 {
			now = now.Add(time.Duration(r.IntN(20000)) * time.Millisecond)
			key := fmt.Sprint("k", r.IntN(2))
			switch r.IntN(3) {
			case 0:
				shared.fail(key, now)
				local.fail(key, now)
			case 1:
				if s, l := shared.lockedFor(key, now), local.lockedFor(key, now); s != l {
					t.Fatalf("step %d: lockedFor shared=%v local=%v", i, s, l)
				}
			default:
				if s, l := shared.recent(key, now), local.recent(key, now); s != l {
					t.Fatalf("step %d: recent shared=%v local=%v", i, s, l)
				}
			}
		}
	})
}

// TestSharedLimitsFailOpen: when Redis dies or hangs mid-run, each instance
// goes on with its own limits (which counted its attempts all along), one
// log line says so however many requests follow, the error counter and the
// fallback gauge show it; once Redis answers again the limits are shared
// again.
func TestSharedLimitsFailOpen(t *testing.T) {
	t.Run("redis-killed", func(t *testing.T) {
		srv := startPrivateRedis(t, "")
		rdb := redis.NewClient(&redis.Options{Addr: srv.addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = rdb.Close() })
		logs := &syncBuffer{}
		s := newTestShared(rdb, "t:", 200*time.Millisecond, logs)
		wall := newClock()
		s.wall = wallClock{wall}.now
		l := sharedLimiter(s, 3, time.Minute)
		f := sharedFailures(s, 0)
		now := time.Now()
		for range 2 {
			if ok, _ := l.allow("9.9.9.9", now); !ok {
				t.Fatal("refused within the budget")
			}
		}
		f.fail("victim@example.com", now)

		srv.stop()
		// The third attempt is allowed by the local table, which saw the
		// first two; the fourth is refused by it.
		if ok, _ := l.allow("9.9.9.9", now); !ok {
			t.Fatal("refused within the budget with Redis down")
		}
		if ok, wait := l.allow("9.9.9.9", now); ok || wait <= 0 {
			t.Fatal("the local table did not count the attempts made while Redis was up")
		}
		if d := f.lockedFor("victim@example.com", now); d != time.Second {
			t.Fatalf("locked for %v with Redis down, want the local record's 1s", d)
		}
		for range 100 {
			_, _ = l.allow("10.0.0.1", now)
			wall.Advance(10 * time.Millisecond)
		}
		if n := testutil.ToFloat64(s.errs); n < 1 || n > 5 {
			t.Errorf("todo_ratelimit_redis_errors_total = %v over 1s of requests, want a few (one per second)", n)
		}
		if g := testutil.ToFloat64(s.fallback); g != 1 {
			t.Errorf("todo_ratelimit_redis_fallback = %v, want 1", g)
		}
		if n := strings.Count(logs.String(), "Redis failed"); n != 1 {
			t.Errorf("%d log lines for ~100 requests with Redis down, want 1:\n%s", n, logs)
		}

		startPrivateRedis(t, srv.addr) // empty: the old counts are gone with it
		wall.Advance(retryAfterError)
		if ok, _ := l.allow("9.9.9.9", now); !ok {
			t.Fatal("refused by a fresh Redis")
		}
		if g := testutil.ToFloat64(s.fallback); g != 0 {
			t.Errorf("todo_ratelimit_redis_fallback = %v after Redis answered again, want 0", g)
		}
		if !strings.Contains(logs.String(), "Redis answers again") {
			t.Errorf("no line when Redis came back:\n%s", logs)
		}
	})

	t.Run("redis-hangs", func(t *testing.T) {
		// A server that accepts connections and never answers.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { _ = c.Close() })
			}
		}()
		rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1,
			DialTimeout: 50 * time.Millisecond, ReadTimeout: 50 * time.Millisecond, WriteTimeout: 50 * time.Millisecond,
			ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = rdb.Close() })
		logs := &syncBuffer{}
		s := newTestShared(rdb, "t:", 50*time.Millisecond, logs)
		l := sharedLimiter(s, 1, time.Minute)
		now := time.Now()
		if ok, _ := l.allow("k", now); !ok {
			t.Fatal("refused within the budget with Redis hanging")
		}
		if ok, _ := l.allow("k", now); ok {
			t.Fatal("the local limit did not hold with Redis hanging")
		}
		if n := testutil.ToFloat64(s.errs); n != 1 {
			t.Errorf("todo_ratelimit_redis_errors_total = %v, want 1 (the second call is not sent within a second of the first error)", n)
		}
		if !strings.Contains(logs.String(), "Redis failed") {
			t.Errorf("no log line:\n%s", logs)
		}
	})
}

// TestSharedLoginLimits: two instances of the auth module on one
// PostgreSQL database and one Redis hold the per-address login limit and
// the account's failure lock together, whichever instance each request
// reaches.
func TestSharedLoginLimits(t *testing.T) {
	db := dbtest.New(t)
	rdb, prefix := testRedis(t)
	opts := []option{withTrustedLoopback(), withConfig(func(c *config.Auth) {
		c.RatePerIP = 6
		c.FailuresPerAccount = 2
		c.RefreshPerSession = 2
	})}
	a := newSharedEnv(t, db, rdb, prefix, opts...)
	b := newSharedEnv(t, db, rdb, prefix, opts...)
	// The test clocks stand still: give both instances the same time, as
	// synchronised clocks would.
	b.clock.ns.Store(a.clock.ns.Load())
	sa, sb := a.server(t), b.server(t)
	register(t, sa, "owner@example.com", xff("203.0.113.1"))

	t.Run("per-address", func(t *testing.T) {
		// register spent one of 203.0.113.1's 6; five more, alternating.
		for _, s := range []*apitest.Server{sb, sa, sb, sa, sb} {
			login(t, s, "owner@example.com", testPassword, xff("203.0.113.1"))
		}
		for _, s := range []*apitest.Server{sa, sb} {
			r := s.Do("POST", "/api/v1/auth/login", body{"email": "owner@example.com", "password": testPassword}, xff("203.0.113.1"))
			expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
		}
	})

	t.Run("failure-lock", func(t *testing.T) {
		for _, s := range []*apitest.Server{sa, sb, sa} {
			r := s.Do("POST", "/api/v1/auth/login", body{"email": "owner@example.com", "password": "wrong password!"}, xff("198.51.100.7"))
			expectProblem(t, r, http.StatusUnauthorized, "invalid_credentials")
		}
		// Three failures, two free: the account is locked for a second
		// against 198.51.100.7, on both instances.
		for _, s := range []*apitest.Server{sa, sb} {
			r := s.Do("POST", "/api/v1/auth/login", body{"email": "owner@example.com", "password": testPassword}, xff("198.51.100.7"))
			p := expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
			if !strings.Contains(p.Detail, "failed password") {
				t.Errorf("detail %q", p.Detail)
			}
		}
		// The owner, from an address that did not fail, gets in through
		// either.
		login(t, sb, "owner@example.com", testPassword, xff("192.0.2.10"))
	})

	t.Run("refresh-per-session", func(t *testing.T) {
		pair := login(t, sa, "owner@example.com", testPassword, xff("192.0.2.20"))
		tok := pair.RefreshToken
		for _, s := range []*apitest.Server{sb, sa} {
			r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": tok})
			expectStatus(t, r, http.StatusOK)
			var p pairJSON
			r.JSON(&p)
			tok = p.RefreshToken
		}
		// Two refreshes a minute for the session, whichever instance.
		r := sb.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": tok})
		expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
	})
}
