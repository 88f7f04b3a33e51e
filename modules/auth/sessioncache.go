package auth

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// maxCachedSessions bounds the session cache: about 100 bytes an entry
// beside the map's own overhead, some 20 MB at most.
const maxCachedSessions = 100_000

// cacheShards is how many independently locked maps the session cache is
// split into, so that concurrent requests rarely wait for one another.
const cacheShards = 64

// evictSample is how many entries a full shard looks at to make room: it
// drops the stale ones among them, or the first when none is stale.
const evictSample = 8

// sessionCache remembers sessions recently found live (AUTH_SESSION_CACHE_TTL),
// so that authenticating a request need not ask the database each time.
// Only positive answers are kept, each for at most ttl and never past the
// session's own expiry. Every revocation in this process invalidates its
// entries before it answers; on PostgreSQL those of other processes arrive
// as notifications (Service.revoked), and the cache is used only while
// the listener is connected. Changes made by SQL behind the service's back
// are seen once the entry is older than ttl.
//
// A check that raced with an invalidation must not be cached: the database
// may have answered before the revocation committed. gen counts
// invalidations; put stores only when none happened since the caller read
// generation before its query.
type sessionCache struct {
	ttl      time.Duration
	perShard int
	seed     maphash.Seed
	gen      atomic.Uint64
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]cachedSession
}

// cachedSession is one positive check of a session.
type cachedSession struct {
	userID    string
	expiresAt time.Time // the session's
	checkedAt time.Time // when the database said it was live
}

// newSessionCache returns a cache trusting entries for ttl and holding at
// most maxEntries of them (at least one per shard).
func newSessionCache(ttl time.Duration, maxEntries int) *sessionCache {
	c := &sessionCache{ttl: ttl, perShard: max(maxEntries/cacheShards, 1), seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]cachedSession)
	}
	return c
}

func (c *sessionCache) shard(sessionID string) *cacheShard {
	return &c.shards[maphash.String(c.seed, sessionID)%cacheShards]
}

// live reports whether sessionID was found live for userID less than ttl
// before now and has not expired since. It does not allocate.
func (c *sessionCache) live(sessionID, userID string, now time.Time) bool {
	sh := c.shard(sessionID)
	sh.mu.RLock()
	e, ok := sh.m[sessionID]
	sh.mu.RUnlock()
	return ok && e.userID == userID && c.fresh(e, now)
}

// fresh reports whether e may still be trusted at now. An entry from the
// future (the wall clock stepped back) is not.
func (c *sessionCache) fresh(e cachedSession, now time.Time) bool {
	age := now.Sub(e.checkedAt)
	return age >= 0 && age < c.ttl && now.Before(e.expiresAt)
}

// generation is the invalidation count to pass to put; read it before
// asking the database.
func (c *sessionCache) generation() uint64 { return c.gen.Load() }

// put records that the database found sessionID of userID live at
// checkedAt, expiring at expiresAt, unless an invalidation happened since
// gen was read.
func (c *sessionCache) put(sessionID, userID string, expiresAt, checkedAt time.Time, gen uint64) {
	sh := c.shard(sessionID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Read under the shard lock: an invalidation bumps gen before it takes
	// the lock, so either put sees the bump or the invalidation sees the entry.
	if c.gen.Load() != gen {
		return
	}
	if _, ok := sh.m[sessionID]; !ok && len(sh.m) >= c.perShard {
		c.evict(sh, checkedAt)
	}
	sh.m[sessionID] = cachedSession{userID: userID, expiresAt: expiresAt, checkedAt: checkedAt}
}

// evict makes room in a full shard; the caller holds its lock. Map order
// is unspecified, so the entries looked at are an arbitrary sample.
func (c *sessionCache) evict(sh *cacheShard, now time.Time) {
	var first string
	dropped, seen := false, 0
	for k, e := range sh.m {
		if seen == 0 {
			first = k
		}
		if !c.fresh(e, now) {
			delete(sh.m, k)
			dropped = true
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if !dropped {
		delete(sh.m, first)
	}
}

// invalidate forgets sessionID: its next request asks the database.
func (c *sessionCache) invalidate(sessionID string) {
	c.gen.Add(1)
	sh := c.shard(sessionID)
	sh.mu.Lock()
	delete(sh.m, sessionID)
	sh.mu.Unlock()
}

// invalidateUser forgets every session of userID. It walks the whole cache;
// it runs only on a password change or an account deletion.
func (c *sessionCache) invalidateUser(userID string) {
	c.gen.Add(1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.userID == userID {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// clear forgets every session.
func (c *sessionCache) clear() {
	c.gen.Add(1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
}

// len is the number of entries, fresh or not.
func (c *sessionCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
