package ratelimit

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Tier is a request budget: Rate tokens per second, at most Burst at once.
type Tier struct {
	Rate  rate.Limit
	Burst int
}

// Tier names used by Gatehouse; they match clientsv1.RateLimitTier.
const (
	TierLow      = "low"
	TierStandard = "standard"
	TierHigh     = "high"
	TierInternal = "internal"
)

// DefaultMaxKeys is the default bound on the number of tracked keys.
const DefaultMaxKeys = 100_000

// DefaultTiers returns Gatehouse's tiers: low (5/s, burst 10), standard
// (50/s, 100), high (500/s, 1000) and internal (5000/s, 10000).
func DefaultTiers() map[string]Tier {
	return map[string]Tier{
		TierLow:      {Rate: 5, Burst: 10},
		TierStandard: {Rate: 50, Burst: 100},
		TierHigh:     {Rate: 500, Burst: 1000},
		TierInternal: {Rate: 5000, Burst: 10000},
	}
}

// Option configures a Limiter.
type Option func(*options)

type options struct {
	maxKeys int
	now     func() time.Time
}

// WithMaxKeys bounds the number of keys tracked at once (default 100 000).
// Values below 1 are ignored.
func WithMaxKeys(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxKeys = n
		}
	}
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// Limiter is a set of per-key token buckets. It is safe for concurrent use
// and starts no goroutine, so it needs no Close.
type Limiter struct {
	tiers    map[string]*tierSpec
	standard *tierSpec
	shards   []shard
	mask     uint32
	perShard int
	now      func() time.Time
	epoch    time.Time
}

type tierSpec struct {
	name string
	Tier
}

type shard struct {
	mu      sync.RWMutex
	entries map[string]*entry
	_       [40]byte // keep shards on separate cache lines
}

type entry struct {
	tier *tierSpec
	lim  *rate.Limiter
	// lastUsed is nanoseconds since Limiter.epoch; read for LRU eviction.
	lastUsed atomic.Int64
}

// New returns a Limiter with the given tiers. A tier name that is empty or
// not in tiers means "standard"; if tiers has no "standard" entry, the one
// of DefaultTiers is used.
func New(tiers map[string]Tier, opts ...Option) *Limiter {
	o := options{maxKeys: DefaultMaxKeys, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	l := &Limiter{tiers: make(map[string]*tierSpec, len(tiers)+1), now: o.now}
	for name, t := range tiers {
		l.tiers[name] = &tierSpec{name: name, Tier: t}
	}
	if _, ok := l.tiers[TierStandard]; !ok {
		l.tiers[TierStandard] = &tierSpec{name: TierStandard, Tier: DefaultTiers()[TierStandard]}
	}
	l.standard = l.tiers[TierStandard]

	// Small limits use one shard so that the bound is exact; large ones
	// spread the keys over 64 shards to cut lock contention.
	n := 1
	if o.maxKeys >= 64*64 {
		n = 64
	}
	l.shards = make([]shard, n)
	for i := range l.shards {
		l.shards[i].entries = make(map[string]*entry)
	}
	l.mask = uint32(n - 1)
	l.perShard = (o.maxKeys + n - 1) / n
	l.epoch = l.now()
	return l
}

// Allow takes one token from key's bucket of the named tier. When it
// refuses, retryAfter is how long until one token is available at the
// tier's rate (not rounded); when it allows, retryAfter is zero.
func (l *Limiter) Allow(key, tier string) (ok bool, retryAfter time.Duration) {
	spec := l.tiers[tier]
	if spec == nil {
		spec = l.standard
	}
	now := l.now()
	sh := &l.shards[fnv32(key)&l.mask]

	sh.mu.RLock()
	e := sh.entries[key]
	sh.mu.RUnlock()
	if e == nil || e.tier != spec {
		e = l.insert(sh, key, spec, now)
	}
	e.lastUsed.Store(int64(now.Sub(l.epoch)))
	if e.lim.AllowN(now, 1) {
		return true, 0
	}
	return false, waitForToken(e.lim, spec, now)
}

// waitForToken is the time until lim holds one token again.
func waitForToken(lim *rate.Limiter, spec *tierSpec, now time.Time) time.Duration {
	if spec.Rate <= 0 || spec.Burst < 1 {
		return rate.InfDuration
	}
	missing := 1 - lim.TokensAt(now)
	if missing <= 0 {
		// Refilled between AllowN and TokensAt (another caller's clock
		// moved on): the smallest positive wait.
		return time.Nanosecond
	}
	d := math.Ceil(missing / float64(spec.Rate) * float64(time.Second))
	if d >= float64(math.MaxInt64) {
		return rate.InfDuration
	}
	return time.Duration(d)
}

// insert adds or replaces key's bucket, evicting if the shard is full.
func (l *Limiter) insert(sh *shard, key string, spec *tierSpec, now time.Time) *entry {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.entries[key]; e != nil {
		if e.tier == spec {
			return e // another goroutine won the race
		}
		// The key changed tier: its old bucket does not apply any more.
		delete(sh.entries, key)
	}
	if len(sh.entries) >= l.perShard {
		l.evict(sh, now)
	}
	e := &entry{tier: spec, lim: rate.NewLimiter(spec.Rate, spec.Burst)}
	sh.entries[key] = e
	return e
}

// evict drops every bucket of the shard that has refilled to its burst; if
// none has, it drops the least recently used one. sh.mu must be held.
func (l *Limiter) evict(sh *shard, now time.Time) {
	var (
		oldestKey string
		oldest    int64 = math.MaxInt64
		dropped   bool
	)
	for k, e := range sh.entries {
		if e.lim.TokensAt(now) >= float64(e.tier.Burst) {
			delete(sh.entries, k)
			dropped = true
			continue
		}
		if u := e.lastUsed.Load(); u < oldest {
			oldest, oldestKey = u, k
		}
	}
	if !dropped && oldest != math.MaxInt64 {
		delete(sh.entries, oldestKey)
	}
}

// Len returns the number of keys tracked.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		n += len(sh.entries)
		sh.mu.RUnlock()
	}
	return n
}

// fnv32 is FNV-1a, inlined so that hashing a key does not allocate.
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
