package dpop

import (
	"crypto/sha256"
	"errors"
	"sync"
	"time"
)

// errReplayCacheFull: the cache holds its maximum of live entries. The
// proof is refused rather than an entry forgotten early, which would let a
// replay through.
var errReplayCacheFull = errors.New("dpop: replay cache full")

// replayCache remembers the jti of every accepted proof for as long as a
// proof with it could still pass the iat check. Entries expire in the
// order they were added (they all live the same time), so a FIFO queue is
// the eviction order: memory is bounded by max entries.
type replayCache struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	seen  map[[32]byte]struct{}
	queue []replayEntry // oldest first; head is the index of the oldest
	head  int
}

type replayEntry struct {
	key     [32]byte
	expires time.Time
}

func newReplayCache(ttl time.Duration, maxEntries int) *replayCache {
	return &replayCache{ttl: ttl, max: maxEntries, seen: make(map[[32]byte]struct{})}
}

// add records the jti of a proof by key jkt at now; false when it was
// already recorded (a replay).
func (c *replayCache) add(jkt, jti string, now time.Time) (bool, error) {
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var k [32]byte
	h.Sum(k[:0])

	c.mu.Lock()
	defer c.mu.Unlock()
	c.evict(now)
	if _, ok := c.seen[k]; ok {
		return false, nil
	}
	if len(c.seen) >= c.max {
		return false, errReplayCacheFull
	}
	c.seen[k] = struct{}{}
	c.queue = append(c.queue, replayEntry{key: k, expires: now.Add(c.ttl)})
	return true, nil
}

// evict drops the expired entries; the caller holds mu.
func (c *replayCache) evict(now time.Time) {
	for c.head < len(c.queue) && !now.Before(c.queue[c.head].expires) {
		delete(c.seen, c.queue[c.head].key)
		c.queue[c.head] = replayEntry{}
		c.head++
	}
	// Compact once the dead prefix is half the slice, so the backing
	// array does not grow without bound.
	if c.head > 0 && c.head >= len(c.queue)/2 {
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue = c.queue[:n]
		c.head = 0
	}
}
