package authn

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// tokenEntry is a validated token: its principal and claims, shared by
// every request that presents it until exp.
type tokenEntry struct {
	p   *Principal
	c   *Claims
	exp time.Time
	gen uint64
}

// tokenCache holds validated tokens by SHA-256 of the raw token (the token
// itself is never stored), each until its exp. It is bounded, and flushed
// whenever the key set changes: a generation number is bumped and entries
// of an older generation are never returned, so a token checked against a
// key set that was replaced meanwhile is not cached either.
type tokenCache struct {
	max int

	// gen is written with mu held for writing; it is read without.
	gen     atomic.Uint64
	mu      sync.RWMutex
	entries map[keyHash]*tokenEntry
}

func newTokenCache(maxEntries int) *tokenCache {
	return &tokenCache{max: maxEntries, entries: map[keyHash]*tokenEntry{}}
}

// hashTokenBuf is the size of the stack buffer hashToken copies into: a
// longer token costs an allocation.
const hashTokenBuf = 2048

// hashToken hashes a raw token, without allocating for tokens of up to
// 2 KiB.
func hashToken(token string) keyHash {
	if len(token) <= hashTokenBuf {
		var buf [hashTokenBuf]byte
		n := copy(buf[:], token)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(token))
}

// generation returns the current generation.
func (c *tokenCache) generation() uint64 { return c.gen.Load() }

// get returns the entry of h if it is of generation gen and not expired
// at now.
func (c *tokenCache) get(h keyHash, gen uint64, now time.Time) *tokenEntry {
	c.mu.RLock()
	e := c.entries[h]
	c.mu.RUnlock()
	if e == nil || e.gen != gen || e.gen != c.gen.Load() || !now.Before(e.exp) {
		return nil
	}
	return e
}

// put caches e under h, unless the cache was flushed since gen was read.
func (c *tokenCache) put(h keyHash, e *tokenEntry, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen.Load() {
		return
	}
	e.gen = gen
	if _, ok := c.entries[h]; !ok && len(c.entries) >= c.max {
		c.evictLocked(now)
	}
	c.entries[h] = e
}

// evictLocked makes room: it drops expired entries if any, else about one
// in sixteen entries chosen by map order.
func (c *tokenCache) evictLocked(now time.Time) {
	dropped := 0
	for h, e := range c.entries {
		if !now.Before(e.exp) {
			delete(c.entries, h)
			dropped++
		}
	}
	if dropped > 0 {
		return
	}
	n := len(c.entries)/16 + 1
	for h := range c.entries {
		if n == 0 {
			break
		}
		delete(c.entries, h)
		n--
	}
}

// flush drops every entry and starts a new generation.
func (c *tokenCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	clear(c.entries)
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
