package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// sharedLimits keeps the rate limits and failure records in Redis, so that
// every instance sharing it counts against one budget. Each operation is
// one atomic Lua script (or one read), bounded by timeout. When Redis
// fails or is slow, the caller uses its own in-memory tables (which count
// this instance's attempts all along), and Redis is left alone for
// retryAfterError before it is asked again: the limits fail open, to the
// per-instance ones, never closed. The hashing slots are not shared: they
// guard one process's CPU.
type sharedLimits struct {
	rdb     redis.Scripter
	prefix  string
	timeout time.Duration
	log     *slog.Logger
	// wall is the real clock of the circuit and of the log's rate: the
	// service's clock (which tests move) dates only the limits themselves.
	wall func() time.Time

	errs     prometheus.Counter
	fallback prometheus.Gauge

	mu         sync.Mutex
	downUntil  time.Time // Redis is not asked before then
	down       bool      // in fallback since the last error
	lastLog    time.Time // the last "unavailable" line
	suppressed int       // errors since that line
}

// retryAfterError is how long an instance keeps to its own limits after a
// Redis error before it asks Redis again: a dead Redis costs one timeout a
// second, not one per request.
const retryAfterError = time.Second

// errorLogEvery is how often, at most, a Redis that keeps failing is logged.
const errorLogEvery = 30 * time.Second

// defaultRedisTimeout bounds a Redis call when the configuration gives no
// timeout.
const defaultRedisTimeout = 100 * time.Millisecond

func newSharedLimits(rdb redis.Scripter, prefix string, timeout time.Duration, log *slog.Logger) *sharedLimits {
	if timeout <= 0 {
		timeout = defaultRedisTimeout
	}
	return &sharedLimits{
		rdb:     rdb,
		prefix:  prefix,
		timeout: timeout,
		log:     log,
		wall:    time.Now,
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "todo_ratelimit_redis_errors_total",
			Help: "Redis calls of the shared rate limits that failed or timed out; each such request used this instance's own limits.",
		}),
		fallback: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "todo_ratelimit_redis_fallback",
			Help: "1 while this instance uses its own rate limits because Redis failed (REDIS_URL set), else 0.",
		}),
	}
}

// limitMetrics is the collector of the shared limits' metrics; without
// Redis they are exported at zero.
type limitMetrics struct{ s *sharedLimits }

// Describe implements prometheus.Collector.
func (m limitMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.s.errs.Describe(ch)
	m.s.fallback.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m limitMetrics) Collect(ch chan<- prometheus.Metric) {
	m.s.errs.Collect(ch)
	m.s.fallback.Collect(ch)
}

// key is the Redis key of one limit's key: the prefix, the limit's name and
// a digest of the key, so that no email or address is stored in Redis and
// every key has the same short length.
func (s *sharedLimits) key(name, key string) string {
	sum := sha256.Sum256([]byte(key))
	return s.prefix + "rl:" + name + ":" + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// usable reports whether Redis may be asked now.
func (s *sharedLimits) usable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.down || !s.wall().Before(s.downUntil)
}

// result records how a call to Redis went: an error opens the circuit for
// retryAfterError and is counted, and logged at most once per
// errorLogEvery; the first success after errors closes it, with a line.
func (s *sharedLimits) result(err error) {
	now := s.wall()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		if s.down {
			s.down = false
			s.fallback.Set(0)
			s.log.Info("rate limits: Redis answers again; the limits are shared again", "errors_since_last_line", s.suppressed)
			s.suppressed = 0
			s.lastLog = time.Time{}
		}
		return
	}
	s.errs.Inc()
	s.downUntil = now.Add(retryAfterError)
	if !s.down {
		s.down = true
		s.fallback.Set(1)
	}
	if now.Sub(s.lastLog) >= errorLogEvery {
		s.log.Warn("rate limits: Redis failed; this instance uses its own limits until it answers again",
			"err", err.Error(), "errors_since_last_line", s.suppressed)
		s.lastLog = now
		s.suppressed = 0
		return
	}
	s.suppressed++
}

func (s *sharedLimits) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// micros is t as microseconds since the epoch: a Lua number holds it
// exactly (below 2^53) for the next few centuries.
func micros(t time.Time) int64 { return t.UnixMicro() }

func microsOf(d time.Duration) int64 { return d.Microseconds() }

// gcraScript is limiter.allow (count "1") and limiter.full (count "0") on
// a key holding the theoretical arrival time, in microseconds. It returns
// 0 when the attempt is allowed, else the wait in microseconds. The key
// expires when its budget is whole again.
var gcraScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local tat = now
local v = redis.call('GET', KEYS[1])
if v then
  tat = math.max(tonumber(v) or now, now)
end
local nxt = tat + interval
local wait = nxt - period - now
if wait > 0 then
  return math.ceil(wait)
end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', string.format('%.0f', math.ceil((nxt - now) / 1000) + 1))
end
return 0
`)

// gcra runs gcraScript for l's key; ok is false when Redis did not answer.
func (s *sharedLimits) gcra(l *limiter, key string, now time.Time, count bool) (allowed bool, wait time.Duration, ok bool) {
	if !s.usable() {
		return false, 0, false
	}
	c := "0"
	if count {
		c = "1"
	}
	ctx, cancel := s.ctx()
	defer cancel()
	n, err := gcraScript.Run(ctx, s.rdb, []string{s.key(l.name, key)},
		micros(now), microsOf(l.interval), microsOf(l.period), c).Int64()
	s.result(err)
	if err != nil {
		return false, 0, false
	}
	return n == 0, time.Duration(n) * time.Microsecond, true
}

// failScript is failures.fail on a hash of the count (c), the latest
// failure (l) and the end of the lock (u), in microseconds. It expires
// once the record has been quiet for the forget window.
var failScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local free = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local maxwait = tonumber(ARGV[4])
local forget = tonumber(ARGV[5])
local r = redis.call('HMGET', KEYS[1], 'c', 'l', 'u')
local c = tonumber(r[1]) or 0
local l = tonumber(r[2]) or 0
local u = tonumber(r[3]) or 0
if r[1] and now - l >= forget and now - u >= forget then
  c = 0
  u = 0
end
c = c + 1
l = now
local over = c - free
if over > 0 then
  local wait = maxwait
  if over <= 30 then
    wait = math.min(base * 2 ^ (over - 1), maxwait)
  end
  u = now + wait
end
redis.call('HSET', KEYS[1], 'c', string.format('%.0f', c), 'l', string.format('%.0f', l), 'u', string.format('%.0f', u))
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.ceil((math.max(l, u) + forget - now) / 1000) + 1))
return c
`)

// fail runs failScript for f's key; it reports whether Redis answered.
func (s *sharedLimits) fail(f *failures, key string, now time.Time) bool {
	if !s.usable() {
		return false
	}
	ctx, cancel := s.ctx()
	defer cancel()
	err := failScript.Run(ctx, s.rdb, []string{s.key(f.name, key)},
		micros(now), f.free, microsOf(f.base), microsOf(f.maxWait), microsOf(f.forget)).Err()
	s.result(err)
	return err == nil
}

// recordScript returns a failure record's latest failure and lock end.
var recordScript = redis.NewScript(`return redis.call('HMGET', KEYS[1], 'l', 'u')`)

// record reads f's record of key: the latest failure and the end of the
// lock (zero times when there is none); ok is false when Redis did not
// answer.
func (s *sharedLimits) record(f *failures, key string) (last, until time.Time, ok bool) {
	if !s.usable() {
		return time.Time{}, time.Time{}, false
	}
	ctx, cancel := s.ctx()
	defer cancel()
	v, err := recordScript.Run(ctx, s.rdb, []string{s.key(f.name, key)}).Slice()
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	s.result(err)
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	field := func(i int) time.Time {
		if i >= len(v) {
			return time.Time{}
		}
		str, _ := v[i].(string)
		n, err := strconv.ParseInt(str, 10, 64)
		if err != nil || n == 0 {
			return time.Time{}
		}
		return time.UnixMicro(n)
	}
	return field(0), field(1), true
}
