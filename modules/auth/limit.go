package auth

import (
	"context"
	"math"
	"net/netip"
	"sync"
	"time"
)

// ipv6ClientBits is the prefix of an IPv6 address that names one client:
// a /64 is the smallest network a home or a server is given, and every
// address in it is the same client's for the asking.
const ipv6ClientBits = 64

// clientKey is the client an address stands for in the per-address limits,
// the failure lock and the shares of the hashing slots: an IPv4 address
// itself (an IPv4-mapped IPv6 one unmapped), an IPv6 address its /64.
// Anything else is its own key.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(ipv6ClientBits)
	if err != nil {
		return ip
	}
	return p.String()
}

// limiter allows each key n attempts per period with the generic cell rate
// algorithm: a burst of n, then one every period/n. It keeps one time per
// key, and drops keys that have fully recovered at most once a period, so
// its memory is bounded by the keys seen within about one period, and by
// maxKeys whatever happens.
type limiter struct {
	// name and shared, when shared is set (REDIS_URL), keep the limit in
	// Redis, one budget for every instance; the table below then counts
	// this instance's allowed attempts too, and decides whenever Redis
	// does not answer.
	name   string
	shared *sharedLimits

	mu        sync.Mutex
	period    time.Duration
	interval  time.Duration
	maxKeys   int
	tat       map[string]time.Time // theoretical arrival time per key
	lastSweep time.Time
}

// maxLimiterKeys bounds each limiter's table: some 100 bytes and a key an
// entry.
const maxLimiterKeys = 200_000

func newLimiter(n int, period time.Duration) *limiter {
	n = max(n, 1)
	return &limiter{period: period, interval: period / time.Duration(n), maxKeys: maxLimiterKeys, tat: map[string]time.Time{}}
}

// allow records an attempt by key at now. When the key is over its limit it
// returns false and how long to wait until an attempt would be allowed.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l.shared != nil {
		if allowed, wait, ok := l.shared.gcra(l, key, now, true); ok {
			if allowed {
				// This instance's attempts are a subset of everyone's,
				// so the local table allows what Redis allowed.
				_, _ = l.allowLocal(key, now)
			}
			return allowed, wait
		}
	}
	return l.allowLocal(key, now)
}

// allowLocal is allow on this instance's table alone.
func (l *limiter) allowLocal(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	tat := l.tat[key]
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(l.interval)
	if allowAt := next.Add(-l.period); now.Before(allowAt) {
		return false, allowAt.Sub(now)
	}
	if _, held := l.tat[key]; !held && len(l.tat) >= l.maxKeys {
		// Full of keys still recovering: make room by dropping one (Go's
		// map order is random, so nobody picks which). A flood of new keys
		// then gives a held one its budget back only after about maxKeys
		// of them.
		for k := range l.tat {
			delete(l.tat, k)
			break
		}
	}
	l.tat[key] = next
	return true, 0
}

// full reports whether an attempt by key at now would be refused, without
// counting one: for an attempt whose cost is known only once it succeeded
// (count it then with allow).
func (l *limiter) full(key string, now time.Time) bool {
	if l.shared != nil {
		if allowed, _, ok := l.shared.gcra(l, key, now, false); ok {
			return !allowed
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	tat := l.tat[key]
	if tat.Before(now) {
		tat = now
	}
	return now.Before(tat.Add(l.interval).Add(-l.period))
}

// sweep drops the keys whose budget is whole again; they behave exactly as
// keys never seen.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.period {
		return
	}
	l.lastSweep = now
	for k, t := range l.tat {
		if !t.After(now) {
			delete(l.tat, k)
		}
	}
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tat)
}

// retrySeconds rounds a wait up to whole seconds for Retry-After.
func retrySeconds(d time.Duration) int { return max(int(math.Ceil(d.Seconds())), 1) }

// failures counts failed password checks per key (an account's email, or a
// client address) and turns a run of them into an exponential backoff: the
// first free failures cost nothing, each one after them locks the key for
// twice as long as the one before (base, 2·base, 4·base, … up to maxWait).
// A key's record is forgotten once it has been quiet for forget: no failure
// and no lock in that time. Counting the quiet time from the lock's end,
// not from the failure, matters once the lock reaches forget: whoever waits
// out the longest lock must find the record, not free failures again. Its
// memory is bounded by the keys that failed within that window (and by
// maxKeys whatever happens).
type failures struct {
	// name and shared, when shared is set (REDIS_URL), keep the records in
	// Redis for every instance; the table below keeps this instance's
	// failures too, and decides whenever Redis does not answer.
	name   string
	shared *sharedLimits

	mu        sync.Mutex
	free      int
	base      time.Duration
	maxWait   time.Duration
	forget    time.Duration
	maxKeys   int
	m         map[string]failureRecord
	lastSweep time.Time
}

type failureRecord struct {
	count int       // failures since the record was started
	last  time.Time // the latest failure
	until time.Time // locked until then
}

// quiet reports whether neither a failure nor a lock of r was within
// forget before now.
func (r failureRecord) quiet(now time.Time, forget time.Duration) bool {
	return now.Sub(r.last) >= forget && now.Sub(r.until) >= forget
}

func newFailures(free int, base, maxWait, forget time.Duration, maxKeys int) *failures {
	return &failures{free: max(free, 0), base: base, maxWait: maxWait, forget: forget, maxKeys: max(maxKeys, 1), m: map[string]failureRecord{}}
}

// lockedFor reports how long key stays locked after now; 0 when it is not.
func (f *failures) lockedFor(key string, now time.Time) time.Duration {
	if f.shared != nil {
		if _, until, ok := f.shared.record(f, key); ok {
			return max(until.Sub(now), 0)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.m[key]
	if !ok || !now.Before(r.until) {
		return 0
	}
	return r.until.Sub(now)
}

// recent reports whether key failed within the forget window before now.
func (f *failures) recent(key string, now time.Time) bool {
	if f.shared != nil {
		if last, _, ok := f.shared.record(f, key); ok {
			return !last.IsZero() && now.Sub(last) < f.forget
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.m[key]
	return ok && now.Sub(r.last) < f.forget
}

// fail records a failure of key at now.
func (f *failures) fail(key string, now time.Time) {
	if f.shared != nil {
		_ = f.shared.fail(f, key, now) // the local record is kept either way
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweep(now)
	r, ok := f.m[key]
	if !ok && len(f.m) >= f.maxKeys {
		// Full of keys that failed within the window: make room by dropping
		// one (Go's map order is random, so nobody picks which).
		for k := range f.m {
			delete(f.m, k)
			break
		}
	}
	if ok && r.quiet(now, f.forget) {
		r = failureRecord{}
	}
	r.count++
	r.last = now
	if over := r.count - f.free; over > 0 {
		wait := f.maxWait
		if over <= 30 { // 2^30 · base overflows long before; past maxWait anyway
			wait = min(f.base<<(over-1), f.maxWait)
		}
		r.until = now.Add(wait)
	}
	f.m[key] = r
}

// sweep drops the records that have been quiet for the forget window, at
// most once per window.
func (f *failures) sweep(now time.Time) {
	if now.Sub(f.lastSweep) < f.forget {
		return
	}
	f.lastSweep = now
	for k, r := range f.m {
		if r.quiet(now, f.forget) {
			delete(f.m, k)
		}
	}
}

func (f *failures) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

// hashSlots bounds the bcrypt work in flight and shares it fairly between
// the principals asking for it (a client address before login, an account
// after). At most cap slots hashes run at once and at most queue requests
// wait, each for at most maxWait; beyond that a request is shed with
// ErrBusy, so a flood cannot take every core and starve the other
// endpoints. One principal may hold or wait for at most perKey of them
// (beyond that it is ErrTooManyHashes), and a freed slot goes to the
// principals with waiters in turn, round robin, so one principal's flood
// puts at most one of its hashes ahead of anybody else's. A full queue
// still admits a principal that has fewer positions than another by two or
// more: the newest waiter of the principal with the most is shed in its
// place, so a few principals each keeping its share waiting cannot keep
// everyone else out; only when none has more than the others is a
// newcomer shed. The slots are per process by design, also when the rate
// limits are shared through Redis: they guard this machine's cores.
type hashSlots struct {
	mu      sync.Mutex
	free    int // slots not held
	waiting int // requests queued, all keys together
	queue   int
	perKey  int
	maxWait time.Duration
	keys    map[string]*slotKey // principals holding or waiting for a slot
	turns   []string            // principals with waiters, next served first
}

// slotKey is one principal's share: the slots it holds and its waiters in
// arrival order.
type slotKey struct {
	held    int
	waiters []*slotWaiter
}

type slotWaiter struct {
	ready   chan struct{} // closed when the slot is handed over, or the waiter shed
	granted bool
	shed    bool // its place went to a principal with fewer
}

// slotsPerKeyShare is the share of all positions (slots and queue) one
// principal may occupy: an eighth, and at least one.
const slotsPerKeyShare = 8

func newHashSlots(slots, queue int, maxWait time.Duration) *hashSlots {
	slots, queue = max(slots, 1), max(queue, 0)
	return &hashSlots{
		free:    slots,
		queue:   queue,
		perKey:  max((slots+queue)/slotsPerKeyShare, 1),
		maxWait: maxWait,
		keys:    map[string]*slotKey{},
	}
}

// busyRetryAfter is the Retry-After, in seconds, of a request shed for want
// of a hashing slot.
const busyRetryAfter = 2

// acquire takes a slot for key, waiting in the queue when there is room in
// it. The caller must call release(key) once done.
func (h *hashSlots) acquire(ctx context.Context, key string) error {
	h.mu.Lock()
	k := h.keys[key]
	if k == nil {
		k = &slotKey{}
		h.keys[key] = k
	}
	switch {
	case k.held+len(k.waiters) >= h.perKey:
		h.mu.Unlock()
		return ErrTooManyHashes.WithRetryAfter(1)
	case h.free > 0 && len(h.turns) == 0:
		h.free--
		k.held++
		h.mu.Unlock()
		return nil
	case h.waiting >= h.queue && !h.makeRoom(key, k):
		h.dropIfIdle(key, k)
		h.mu.Unlock()
		return ErrBusy.WithRetryAfter(busyRetryAfter)
	}
	w := &slotWaiter{ready: make(chan struct{})}
	k.waiters = append(k.waiters, w)
	if len(k.waiters) == 1 {
		h.turns = append(h.turns, key)
	}
	h.waiting++
	h.mu.Unlock()

	timer := time.NewTimer(h.maxWait)
	defer timer.Stop()
	var cause error
	select {
	case <-w.ready:
		if w.granted { // written before ready was closed
			return nil
		}
		return ErrBusy.WithRetryAfter(busyRetryAfter) // shed
	case <-timer.C:
	case <-ctx.Done():
		cause = ctx.Err()
	}
	h.mu.Lock()
	switch {
	case w.granted: // handed over while giving up: give it back
		h.mu.Unlock()
		h.release(key)
	case w.shed: // already out of the queue
		h.mu.Unlock()
	default:
		h.withdraw(key, k, w)
		h.mu.Unlock()
	}
	return ErrBusy.WithRetryAfter(busyRetryAfter).Wrap(cause)
}

// makeRoom sheds, for key (which holds or awaits k's positions), the
// newest waiter of the principal with the most positions, if that one has
// at least two more than key has; it reports whether it did. h.mu is held.
// It looks at each principal with waiters once, and runs only when the
// queue is full.
func (h *hashSlots) makeRoom(key string, k *slotKey) bool {
	mine := k.held + len(k.waiters)
	var (
		most    string
		mostPos int
	)
	for _, t := range h.turns {
		if t == key {
			continue
		}
		v := h.keys[t]
		if pos := v.held + len(v.waiters); pos > mostPos {
			most, mostPos = t, pos
		}
	}
	if mostPos < mine+2 {
		return false
	}
	v := h.keys[most]
	w := v.waiters[len(v.waiters)-1]
	w.shed = true
	h.withdraw(most, v, w)
	close(w.ready)
	return true
}

// withdraw removes a waiter that gave up; h.mu is held.
func (h *hashSlots) withdraw(key string, k *slotKey, w *slotWaiter) {
	for i, x := range k.waiters {
		if x == w {
			k.waiters = append(k.waiters[:i], k.waiters[i+1:]...)
			break
		}
	}
	h.waiting--
	if len(k.waiters) == 0 {
		for i, x := range h.turns {
			if x == key {
				h.turns = append(h.turns[:i], h.turns[i+1:]...)
				break
			}
		}
	}
	h.dropIfIdle(key, k)
}

// dropIfIdle forgets a principal that holds and awaits nothing; h.mu is held.
func (h *hashSlots) dropIfIdle(key string, k *slotKey) {
	if k.held == 0 && len(k.waiters) == 0 {
		delete(h.keys, key)
	}
}

// release gives key's slot to the next principal in turn, or frees it.
func (h *hashSlots) release(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if k := h.keys[key]; k != nil {
		k.held--
		h.dropIfIdle(key, k)
	}
	if len(h.turns) == 0 {
		h.free++
		return
	}
	next := h.turns[0]
	h.turns = h.turns[1:]
	k := h.keys[next]
	w := k.waiters[0]
	k.waiters = k.waiters[1:]
	if len(k.waiters) > 0 {
		h.turns = append(h.turns, next) // to the back: the others go first
	}
	h.waiting--
	k.held++
	w.granted = true
	close(w.ready)
}

// queued is how many requests wait for a slot.
func (h *hashSlots) queued() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waiting
}

// touchThrottle decides when a session's last_used_at is due to be written:
// at most once per interval per session, so that authenticating a request
// does not write on every request. Entries older than interval are dropped
// once per interval, which bounds the map by the sessions active within it.
type touchThrottle struct {
	mu        sync.Mutex
	interval  time.Duration
	last      map[string]time.Time
	lastSweep time.Time
}

func newTouchThrottle(interval time.Duration) *touchThrottle {
	return &touchThrottle{interval: interval, last: map[string]time.Time{}}
}

// due reports whether sessionID's last_used_at should be written at now,
// and if so records that it is.
func (t *touchThrottle) due(sessionID string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.lastSweep) >= t.interval {
		t.lastSweep = now
		for k, v := range t.last {
			if now.Sub(v) >= t.interval {
				delete(t.last, k)
			}
		}
	}
	if v, ok := t.last[sessionID]; ok && now.Sub(v) < t.interval {
		return false
	}
	t.last[sessionID] = now
	return true
}

// mark records that sessionID's last_used_at was written at now (by a
// refresh), so the next request does not write it again.
func (t *touchThrottle) mark(sessionID string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last[sessionID] = now
}
