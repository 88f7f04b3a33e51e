package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"todo/platform/config"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		n       int
		at      []time.Duration // attempt times after t0
		allowed []bool
	}{
		{"burst-of-n-then-deny", 3, []time.Duration{0, 0, 0, 0}, []bool{true, true, true, false}},
		{"one-back-every-period-over-n", 3, []time.Duration{0, 0, 0, 19 * time.Second, 20 * time.Second, 20 * time.Second}, []bool{true, true, true, false, true, false}},
		{"whole-budget-after-a-period", 2, []time.Duration{0, 0, time.Minute, time.Minute, time.Minute}, []bool{true, true, true, true, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.n, time.Minute)
			for i, at := range tc.at {
				if got, _ := l.allow("k", t0.Add(at)); got != tc.allowed[i] {
					t.Fatalf("attempt %d at +%v: allowed %v, want %v", i, at, got, tc.allowed[i])
				}
			}
		})
	}
	t.Run("retry-after-is-the-wait", func(t *testing.T) {
		l := newLimiter(2, time.Minute)
		l.allow("k", t0)
		l.allow("k", t0)
		ok, wait := l.allow("k", t0.Add(10*time.Second))
		if ok || wait != 20*time.Second {
			t.Fatalf("got %v, %v; want false, 20s", ok, wait)
		}
		if got := retrySeconds(wait + time.Millisecond); got != 21 {
			t.Errorf("retrySeconds rounds up: got %d", got)
		}
	})
	t.Run("keys-are-independent", func(t *testing.T) {
		l := newLimiter(1, time.Minute)
		if ok, _ := l.allow("a", t0); !ok {
			t.Fatal("a denied")
		}
		if ok, _ := l.allow("b", t0); !ok {
			t.Fatal("b denied")
		}
	})
	t.Run("idle-keys-are-evicted", func(t *testing.T) {
		l := newLimiter(5, time.Minute)
		for i := range 1000 {
			l.allow(strconv.Itoa(i), t0)
		}
		if n := l.size(); n != 1000 {
			t.Fatalf("size %d", n)
		}
		l.allow("late", t0.Add(2*time.Minute))
		if n := l.size(); n != 1 {
			t.Fatalf("size %d after a sweep, want 1", n)
		}
	})
}

func TestTouchThrottle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	th := newTouchThrottle(time.Minute)
	steps := []struct {
		at   time.Duration
		want bool
	}{{0, true}, {time.Second, false}, {59 * time.Second, false}, {time.Minute, true}, {90 * time.Second, false}}
	for _, st := range steps {
		if got := th.due("s", t0.Add(st.at)); got != st.want {
			t.Fatalf("at +%v: due %v, want %v", st.at, got, st.want)
		}
	}
	th.mark("s", t0.Add(5*time.Minute))
	if th.due("s", t0.Add(5*time.Minute+time.Second)) {
		t.Fatal("due right after a refresh wrote it")
	}
}

func TestRateLimits(t *testing.T) {
	e := pgEnv(t, withTrustedLoopback(), withConfig(func(c *config.Auth) {
		c.RatePerEmail = 3
		c.RatePerIP = 5
	}))
	s := e.server(t)

	t.Run("register/per-email/429", func(t *testing.T) {
		for i := range 3 {
			r := s.Do("POST", "/api/v1/auth/register", body{"email": "limited@example.com", "name": "L", "password": testPassword}, xff(fmt.Sprintf("198.51.100.%d", i)))
			if i == 0 {
				expectStatus(t, r, http.StatusCreated)
			} else {
				expectProblem(t, r, http.StatusConflict, "email_taken")
			}
		}
		// Case and spaces do not make another email.
		r := s.Do("POST", "/api/v1/auth/register", body{"email": " LIMITED@example.com", "name": "L", "password": testPassword}, xff("198.51.100.99"))
		expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 20 {
			t.Errorf("Retry-After %q, want 1–20 seconds", r.Header.Get("Retry-After"))
		}
		// Registrations do not limit logins.
		login(t, s, "limited@example.com", testPassword, xff("198.51.100.97"))
		e.clock.Advance(20 * time.Second)
		expectProblem(t, s.Do("POST", "/api/v1/auth/register", body{"email": "limited@example.com", "name": "L", "password": testPassword}, xff("198.51.100.98")), http.StatusConflict, "email_taken")
	})
	t.Run("register/per-ip/429", func(t *testing.T) {
		ip := xff("203.0.113.7")
		for i := range 5 {
			r := s.Do("POST", "/api/v1/auth/register", body{"email": fmt.Sprintf("ip%d@example.com", i), "name": "IP", "password": testPassword}, ip)
			expectStatus(t, r, http.StatusCreated)
		}
		r := s.Do("POST", "/api/v1/auth/login", body{"email": "ip0@example.com", "password": testPassword}, ip)
		expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		// Another address is not limited.
		login(t, s, "ip0@example.com", testPassword, xff("203.0.113.8"))
	})
}

func TestRateLimitIgnoresUntrustedForwardedFor(t *testing.T) {
	e := pgEnv(t, withConfig(func(c *config.Auth) { c.RatePerIP = 2 }))
	s := e.server(t)
	for i := range 2 {
		r := s.Do("POST", "/api/v1/auth/login", body{"email": fmt.Sprintf("u%d@example.com", i), "password": "wrong password"}, xff(fmt.Sprintf("192.0.2.%d", i)))
		expectProblem(t, r, http.StatusUnauthorized, "invalid_credentials")
	}
	// A forged X-Forwarded-For from an untrusted peer changes nothing.
	r := s.Do("POST", "/api/v1/auth/login", body{"email": "u9@example.com", "password": "wrong password"}, xff("192.0.2.99"))
	expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
}

func TestHashSlotShedding(t *testing.T) {
	e := pgEnv(t, withConfig(func(c *config.Auth) {
		c.HashSlots = 1
		c.HashQueue = 0
	}))
	s := e.server(t)
	register(t, s, "shed@example.com")
	slots := e.mod.svc.slots

	if err := slots.acquire(context.Background(), "someone else"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		path   string
		body   body
		header []string
	}{
		{"login/slots-full/503", "/api/v1/auth/login", body{"email": "shed@example.com", "password": testPassword}, nil},
		{"register/slots-full/503", "/api/v1/auth/register", body{"email": "shed2@example.com", "name": "S", "password": testPassword}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do("POST", tc.path, tc.body)
			expectProblem(t, r, http.StatusServiceUnavailable, "unavailable")
			if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
			}
		})
	}
	slots.release("someone else")
	login(t, s, "shed@example.com", testPassword)
}

func TestHashSlotQueue(t *testing.T) {
	h := newHashSlots(1, 16, 50*time.Millisecond)
	ctx := context.Background()
	if err := h.acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// One may wait; it gives up after maxWait.
	start := time.Now()
	if err := h.acquire(ctx, "b"); err == nil {
		t.Fatal("acquired a taken slot")
	} else if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before maxWait", d)
	}
	if n := h.queued(); n != 0 {
		t.Fatalf("%d still queued after giving up", n)
	}
	// A waiter gets the slot as soon as it is released.
	h.maxWait = time.Minute
	got := make(chan error, 1)
	go func() { got <- h.acquire(ctx, "b") }()
	for h.queued() == 0 {
		time.Sleep(time.Millisecond)
	}
	h.release("a")
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	h.release("b")
	if len(h.keys) != 0 || h.free != 1 {
		t.Fatalf("after every release: %d keys tracked, %d free; want 0, 1", len(h.keys), h.free)
	}
}

func TestHashSlotQueueFull(t *testing.T) {
	h := newHashSlots(1, 1, time.Minute)
	ctx := context.Background()
	if err := h.acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- h.acquire(ctx, "b") }()
	for h.queued() == 0 {
		time.Sleep(time.Millisecond)
	}
	// The queue (1) is full: the next is shed at once.
	if err := h.acquire(ctx, "c"); !errors.Is(err, ErrBusy) {
		t.Fatalf("beyond the queue: %v, want ErrBusy", err)
	}
	h.release("a")
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	h.release("b")
}

func TestHashSlotCancelledWaiter(t *testing.T) {
	h := newHashSlots(1, 16, time.Minute)
	if err := h.acquire(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() { got <- h.acquire(ctx, "b") }()
	for h.queued() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-got; !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	h.release("a")
	if len(h.keys) != 0 || h.free != 1 || len(h.turns) != 0 {
		t.Fatalf("after a cancelled wait: keys %v, free %d, turns %v", h.keys, h.free, h.turns)
	}
}

// TestHashSlotsOnePrincipalShare (issue 11, item 1): one principal holds or
// waits for at most its share of the positions, and a freed slot goes to
// the principals with waiters in turn, so a flood from one puts at most one
// of its hashes ahead of anyone else's.
func TestHashSlotsOnePrincipalShare(t *testing.T) {
	h := newHashSlots(1, 31, time.Minute) // 32 positions: 4 a principal
	ctx := context.Background()
	if h.perKey != 4 {
		t.Fatalf("perKey %d, want 4", h.perKey)
	}
	if err := h.acquire(ctx, "flood"); err != nil {
		t.Fatal(err)
	}
	var order []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	enqueue := func(key string) {
		n := h.queued()
		wg.Go(func() {
			if err := h.acquire(ctx, key); err != nil {
				t.Errorf("%s: %v", key, err)
				return
			}
			mu.Lock()
			order = append(order, key)
			mu.Unlock()
			h.release(key)
		})
		for h.queued() == n {
			time.Sleep(time.Millisecond)
		}
	}
	for range 3 {
		enqueue("flood")
	}
	// The principal's share is used up: a fifth request is refused at once.
	if err := h.acquire(ctx, "flood"); !errors.Is(err, ErrTooManyHashes) {
		t.Fatalf("beyond the share: %v, want ErrTooManyHashes", err)
	}
	enqueue("victim")
	h.release("flood")
	wg.Wait()
	want := []string{"flood", "victim", "flood", "flood"}
	if !slices.Equal(order, want) {
		t.Fatalf("slots went to %v, want %v (one of the flood's, then the victim's)", order, want)
	}
}

// TestFailuresBackoff: free failures cost nothing, each one after locks the
// key twice as long as the one before, up to the maximum; a key idle for
// the forget window starts afresh, and the table never holds more than its
// bound.
func TestFailuresBackoff(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f := newFailures(2, time.Second, 4*time.Second, time.Minute, 3)
	wantLocks := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, want := range wantLocks {
		f.fail("k", t0)
		if got := f.lockedFor("k", t0); got != want {
			t.Fatalf("after failure %d: locked for %v, want %v", i+1, got, want)
		}
	}
	if !f.recent("k", t0.Add(59*time.Second)) || f.recent("k", t0.Add(time.Minute)) {
		t.Fatal("recent should hold for the forget window only")
	}
	f.fail("k", t0.Add(2*time.Minute)) // idle past the window: a first failure again
	if got := f.lockedFor("k", t0.Add(2*time.Minute)); got != 0 {
		t.Fatalf("after the window: locked for %v, want 0", got)
	}
	for i := range 10 {
		f.fail(strconv.Itoa(i), t0.Add(2*time.Minute))
	}
	if n := f.size(); n > 3 {
		t.Fatalf("%d keys kept, bound 3", n)
	}
	f.fail("late", t0.Add(10*time.Minute))
	if n := f.size(); n != 1 {
		t.Fatalf("%d keys after a sweep, want 1", n)
	}
}

// TestHashQueueAdmitsNewcomers: a full queue shed every newcomer, so a few
// principals each keeping its whole share waiting (nine addresses with the
// defaults: 1 slot, 32 waiting, 4 a principal) denied every other client's
// login and registration (503) for as long as they kept it up. A newcomer
// now takes the place of the newest waiter of the principal with the most
// positions, while that one has at least two more than the newcomer would;
// only when no principal has more than its fair part is it shed.
func TestHashQueueAdmitsNewcomers(t *testing.T) {
	h := newHashSlots(1, 15, time.Minute) // 16 positions: 2 a principal
	ctx := context.Background()
	if err := h.acquire(ctx, "holder"); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		key string
		err error
	}
	done := make(chan outcome, 32)
	start := func(key string) {
		go func() {
			err := h.acquire(ctx, key)
			if err == nil {
				h.release(key)
			}
			done <- outcome{key, err}
		}()
	}
	waitQueued := func(n int) {
		t.Helper()
		for range 5000 {
			if h.queued() == n {
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("%d queued, want %d", h.queued(), n)
	}
	next := func() outcome {
		t.Helper()
		select {
		case o := <-done:
			return o
		case <-time.After(5 * time.Second):
			t.Fatal("no request ended")
			return outcome{}
		}
	}
	for i := range 7 {
		for range 2 {
			n := h.queued()
			start(fmt.Sprintf("flood%d", i))
			waitQueued(n + 1)
		}
	}
	start("single")
	waitQueued(15) // the queue is full
	// Each newcomer gets a place at the expense of a principal with two.
	shedFrom := map[string]bool{}
	for i := range 7 {
		start(fmt.Sprintf("newcomer%d", i))
		o := next()
		if !strings.HasPrefix(o.key, "flood") || !errors.Is(o.err, ErrBusy) || shedFrom[o.key] {
			t.Fatalf("for newcomer %d: %s ended with %v; want a waiter of a principal with two shed (ErrBusy)", i, o.key, o.err)
		}
		shedFrom[o.key] = true
		waitQueued(15)
	}
	// Every principal is down to one position: the next newcomer is shed.
	if err := h.acquire(ctx, "last"); !errors.Is(err, ErrBusy) {
		t.Fatalf("a newcomer when no principal has more than one position: %v, want ErrBusy", err)
	}
	h.release("holder")
	for range 15 {
		if o := next(); o.err != nil {
			t.Errorf("%s: %v", o.key, o.err)
		}
	}
	if len(h.keys) != 0 || h.free != 1 || len(h.turns) != 0 || h.waiting != 0 {
		t.Fatalf("after every release: keys %v, free %d, turns %v, waiting %d", h.keys, h.free, h.turns, h.waiting)
	}
}
