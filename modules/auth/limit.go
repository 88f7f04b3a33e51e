package auth

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// limiter allows each key n attempts per period with the generic cell rate
// algorithm: a burst of n, then one every period/n. It keeps one time per
// key, and drops keys that have fully recovered at most once a period, so
// its memory is bounded by the keys seen within about one period.
type limiter struct {
	mu        sync.Mutex
	period    time.Duration
	interval  time.Duration
	tat       map[string]time.Time // theoretical arrival time per key
	lastSweep time.Time
}

func newLimiter(n int, period time.Duration) *limiter {
	n = max(n, 1)
	return &limiter{period: period, interval: period / time.Duration(n), tat: map[string]time.Time{}}
}

// allow records an attempt by key at now. When the key is over its limit it
// returns false and how long to wait until an attempt would be allowed.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
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
	l.tat[key] = next
	return true, 0
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

// hashSlots bounds the bcrypt work in flight: at most cap(slots) hashes run
// at once and at most queue requests wait for a slot, each for at most
// maxWait. Beyond that a request is shed with ErrBusy, so a login flood
// cannot take every core and starve the other endpoints.
type hashSlots struct {
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
	maxWait time.Duration
}

func newHashSlots(slots, queue int, maxWait time.Duration) *hashSlots {
	return &hashSlots{slots: make(chan struct{}, max(slots, 1)), queue: int64(max(queue, 0)), maxWait: maxWait}
}

// busyRetryAfter is the Retry-After, in seconds, of a request shed for want
// of a hashing slot.
const busyRetryAfter = 2

// acquire takes a slot, waiting in the queue when there is room in it. The
// caller must call release once done.
func (h *hashSlots) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	if h.waiting.Add(1) > h.queue {
		h.waiting.Add(-1)
		return ErrBusy.WithRetryAfter(busyRetryAfter)
	}
	defer h.waiting.Add(-1)
	timer := time.NewTimer(h.maxWait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return ErrBusy.WithRetryAfter(busyRetryAfter)
	case <-ctx.Done():
		return ErrBusy.WithRetryAfter(busyRetryAfter).Wrap(ctx.Err())
	}
}

func (h *hashSlots) release() { <-h.slots }

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
