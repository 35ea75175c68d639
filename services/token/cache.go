package token

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// cacheKey is SHA-256(client_id || 0x00 || secret): a hit proves the
// presented secret is the one verified, and the cache never holds a secret.
type cacheKey [sha256.Size]byte

func newCacheKey(clientID, secret string) cacheKey {
	// Credentials within the request limits are hashed from the stack:
	// a hash.Hash would be one allocation on every request.
	var buf [maxClientIDLen + 1 + maxSecretLen]byte
	if len(clientID)+1+len(secret) <= len(buf) {
		n := copy(buf[:], clientID)
		buf[n] = 0
		n++
		n += copy(buf[n:], secret)
		k := cacheKey(sha256.Sum256(buf[:n]))
		clear(buf[:n]) // the secret does not linger on the stack
		return k
	}
	h := sha256.New()
	h.Write([]byte(clientID))
	h.Write([]byte{0})
	h.Write([]byte(secret))
	var k cacheKey
	h.Sum(k[:0])
	return k
}

type cacheEntry struct {
	client  *client
	expires time.Time
}

const cacheShards = 16

// verifiedCache holds POSITIVE secret verifications only: a wrong secret is
// never cached, so it always costs a registry round trip (and a failure
// budget token). Entries live for the TTL, are bounded in number, and are
// dropped per client on ClientChanged events.
type verifiedCache struct {
	ttl      time.Duration
	perShard int
	// gen counts invalidations. A verification notes it before asking the
	// registry and put refuses its answer if an invalidation came in
	// between, so a change racing a verification cannot be undone by a
	// stale answer.
	gen    atomic.Uint64
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[cacheKey]cacheEntry
	_  [40]byte // keep shards' locks on separate cache lines
}

func newVerifiedCache(ttl time.Duration, size int) *verifiedCache {
	c := &verifiedCache{ttl: ttl, perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[cacheKey]cacheEntry)
	}
	return c
}

func (c *verifiedCache) shard(k cacheKey) *cacheShard { return &c.shards[k[0]%cacheShards] }

// get returns the client verified under k, if the entry is still fresh.
func (c *verifiedCache) get(k cacheKey, now time.Time) (*client, bool) {
	sh := c.shard(k)
	sh.mu.RLock()
	e, ok := sh.m[k]
	sh.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.client, true
}

// generation is the invalidation count to pass to put.
func (c *verifiedCache) generation() uint64 { return c.gen.Load() }

// put caches a verification made after generation() returned gen.
func (c *verifiedCache) put(k cacheKey, cl *client, now time.Time, gen uint64) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c.gen.Load() != gen {
		return // invalidated while the registry was asked
	}
	if len(sh.m) >= c.perShard {
		// Drop the expired entries; if none, drop an arbitrary one (map
		// order): a miss only costs one registry round trip.
		for key, e := range sh.m {
			if !now.Before(e.expires) {
				delete(sh.m, key)
			}
		}
		if len(sh.m) >= c.perShard {
			for key := range sh.m {
				delete(sh.m, key)
				break
			}
		}
	}
	sh.m[k] = cacheEntry{client: cl, expires: now.Add(c.ttl)}
}

// dropClient removes every entry of the client: all its secrets, old and
// new.
func (c *verifiedCache) dropClient(id string) {
	c.gen.Add(1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for key, e := range sh.m {
			if e.client.id == id {
				delete(sh.m, key)
			}
		}
		sh.mu.Unlock()
	}
}

func (c *verifiedCache) dropAll() {
	c.gen.Add(1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
}

func (c *verifiedCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
