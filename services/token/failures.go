package token

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
)

// Tiers of the failed-client-authentication budgets (checklist item 80,
// RFC 6749 §10.10), kept in the Limiter under the keys
// "authfail:client:<client_id>" and "authfail:ip:<address>".
const (
	TierAuthFailClient = "token_authfail_client"
	TierAuthFailIP     = "token_authfail_ip"
)

// failureBudget is 10 failed authentications a minute with a burst of 20,
// per client_id and, separately, per remote address.
var failureBudget = ratelimit.Tier{Rate: rate.Every(6 * time.Second), Burst: 20}

// LimiterTiers returns the tiers the Service's Limiter must know: the
// clients' tiers (the introspection and revocation budgets are the
// caller's tier), which are clientTiers as configured or, when nil,
// ratelimit.DefaultTiers; and the two failure budgets.
func LimiterTiers(clientTiers map[string]ratelimit.Tier) map[string]ratelimit.Tier {
	if clientTiers == nil {
		clientTiers = ratelimit.DefaultTiers()
	}
	t := maps.Clone(clientTiers)
	t[TierAuthFailClient] = failureBudget
	t[TierAuthFailIP] = failureBudget
	return t
}

// NewLimiter returns a Limiter with LimiterTiers(clientTiers).
func NewLimiter(clientTiers map[string]ratelimit.Tier, opts ...ratelimit.Option) *ratelimit.Limiter {
	return ratelimit.New(LimiterTiers(clientTiers), opts...)
}

const (
	failKeyClient = "authfail:client:"
	failKeyIP     = "authfail:ip:"
	// maxBlocked bounds the refusal list; beyond it the oldest-expiring
	// refusals are forgotten, and the Limiter still refuses their next
	// failure.
	maxBlocked = 100_000
)

// failureGate spends the failure budgets and remembers who exhausted one.
// The Limiter only offers "take a token", but refusing an over-budget
// caller must happen BEFORE its secret is checked (otherwise a correct
// guess would still be answered): so when a failure finds its budget
// empty, the key is refused until the bucket holds a token again, without
// spending tokens on the refusals themselves.
type failureGate struct {
	lim *ratelimit.Limiter

	n       atomic.Int64 // len(blocked), read without the lock on the hot path
	mu      sync.Mutex
	blocked map[string]time.Time // key → refused until
}

func newFailureGate(lim *ratelimit.Limiter) *failureGate {
	return &failureGate{lim: lim, blocked: make(map[string]time.Time)}
}

// refused returns how long the caller must wait when the client or the
// address has exhausted its failure budget.
func (g *failureGate) refused(clientID, ip string, now time.Time) (time.Duration, bool) {
	if g.n.Load() == 0 {
		return 0, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var wait time.Duration
	for _, key := range []string{failKeyIP + ip, failKeyClient + clientID} {
		if key == failKeyClient {
			continue // no client named
		}
		until, ok := g.blocked[key]
		if !ok {
			continue
		}
		if !now.Before(until) {
			delete(g.blocked, key)
			g.n.Add(-1)
			continue
		}
		wait = max(wait, until.Sub(now))
	}
	return wait, wait > 0
}

// fail spends one token of the client's and of the address's budget. It
// reports whether either was already empty, and for how long the caller is
// now refused.
func (g *failureGate) fail(clientID, ip string, now time.Time) (time.Duration, bool) {
	var wait time.Duration
	spend := func(key, tier string) {
		if ok, retry := g.lim.Allow(key, tier); !ok {
			wait = max(wait, retry)
			g.block(key, now.Add(retry))
		}
	}
	spend(failKeyIP+ip, TierAuthFailIP)
	if clientID != "" {
		spend(failKeyClient+clientID, TierAuthFailClient)
	}
	return wait, wait > 0
}

func (g *failureGate) block(key string, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.blocked[key]; !ok {
		if len(g.blocked) >= maxBlocked {
			g.evict()
		}
		g.n.Add(1)
	}
	g.blocked[key] = until
}

// evict forgets the refusal that ends first. g.mu must be held.
func (g *failureGate) evict() {
	var (
		first string
		at    time.Time
	)
	for k, until := range g.blocked {
		if first == "" || until.Before(at) {
			first, at = k, until
		}
	}
	delete(g.blocked, first)
	g.n.Add(-1)
}
