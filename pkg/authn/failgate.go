package authn

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"google.golang.org/grpc/codes"
)

// maxBlockedAddrs bounds the memory of the failure gate.
const maxBlockedAddrs = 100_000

// failGate limits failed authentications per caller address (checklist
// items 80, 89): each failure spends from the address's budget, and an
// address whose budget is empty has its credentials refused without any
// lookup until it refills, so guessing keys from one address stays slow
// while other addresses are not affected; only the credentials that cost
// nothing to check (Validator.cheapToCheck) are still checked there, so the
// good callers sharing the address keep working. The limiter cannot look without
// spending, so blocked addresses are kept here.
type failGate struct {
	lim  *ratelimit.Limiter
	tier string
	now  func() time.Time

	n       atomic.Int64 // len(blocked), read without the lock on the hot path
	mu      sync.Mutex
	blocked map[string]time.Time
}

// WithFailureLimiter limits failed authentications per caller address with
// limiter's tier; an address over budget gets ResourceExhausted with a
// retry delay. now is the clock (nil: time.Now), for tests.
func WithFailureLimiter(limiter *ratelimit.Limiter, tier string, now func() time.Time) Option {
	return func(v *Validator) {
		if limiter == nil {
			return
		}
		if now == nil {
			now = time.Now
		}
		v.fails = &failGate{lim: limiter, tier: tier, now: now, blocked: map[string]time.Time{}}
	}
}

// blockedFor reports how long addr is still refused. Cheap when nothing is
// blocked: one atomic load.
func (g *failGate) blockedFor(addr string) (time.Duration, bool) {
	if g == nil || addr == "" || g.n.Load() == 0 {
		return 0, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.blocked[addr]
	if !ok {
		return 0, false
	}
	wait := until.Sub(g.now())
	if wait <= 0 {
		delete(g.blocked, addr)
		g.n.Store(int64(len(g.blocked)))
		return 0, false
	}
	return wait, true
}

// fail spends one failure of addr's budget and blocks it when empty.
func (g *failGate) fail(addr string) {
	if g == nil || addr == "" {
		return
	}
	ok, wait := g.lim.Allow("authfail:"+addr, g.tier)
	if ok {
		return
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.blocked) >= maxBlockedAddrs {
		for a, until := range g.blocked {
			if !until.After(now) {
				delete(g.blocked, a)
			}
		}
		if len(g.blocked) >= maxBlockedAddrs {
			return // full of live blocks: keep those, the limiter still counts
		}
	}
	g.blocked[addr] = now.Add(wait)
	g.n.Store(int64(len(g.blocked)))
}

// block refuses key (an API key id at an address) for wait; "" is a no-op.
func (g *failGate) block(key string, wait time.Duration) {
	if g == nil || key == "" || wait <= 0 {
		return
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.blocked) >= maxBlockedAddrs {
		return // full of live blocks: the address's own block still holds
	}
	g.blocked[key] = now.Add(wait)
	g.n.Store(int64(len(g.blocked)))
}

// countsAsFailure says which refusals spend the failure budget: a
// credential that was presented and is wrong. A missing credential or a
// refused scope is not guessing.
func countsAsFailure(ae *AuthError) bool {
	return ae.Code == codes.Unauthenticated && ae.Reason != audit.ReasonMissingCredential
}

func errTooManyFailures(wait time.Duration) *AuthError {
	return &AuthError{
		Code:       codes.ResourceExhausted,
		Reason:     audit.ReasonTooManyFailures,
		Message:    "too many failed authentications from this address",
		OAuthError: ErrRateLimited,
		RetryAfter: wait,
	}
}

// remoteOf is the caller's address for the failure gate.
func (v *Validator) remoteOf(ctx context.Context, req *request) string {
	if req.grpcCtx {
		return v.grpcRemote(ctx)
	}
	return hostOnly(req.remote)
}
