package token

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
)

// Failed authentications (checklist items 80, 89; OWASP's guidance on
// online guessing). Each failure spends three budgets, kept in the
// Limiter under keys of their own:
//
//   - the credential's at one address (the pair: a client_id, or a
//     login's account, with the caller's address): when it is spent, that
//     credential is refused from that address before any verification, so
//     a correct guess is never answered to the source that has been
//     guessing;
//   - the address's, across credentials: a source over it gets 429 for its
//     failures, and on the login page, where a check costs an argon2id
//     hash, it is refused before any check;
//   - the credential's, across addresses: the last resort against a guess
//     spread over many addresses. It never refuses a correct credential
//     from an address that has not failed recently: client secrets are
//     checked and answered (they are 256 random bits: online guessing is
//     hopeless, and the budget exists to bound the cost of the attempts and
//     to make the attack show in the logs and metrics), and a password is
//     checked for a browser with the account's device cookie or from an
//     address without recent failures.
//
// So a stranger who knows a client_id or an email cannot lock its owner
// out, and callers sharing an address with a guesser keep working with
// valid credentials.
const (
	TierAuthFailClient = "token_authfail_client"
	TierAuthFailIP     = "token_authfail_ip"
	TierAuthFailPair   = "token_authfail_pair"
)

var (
	// credentialBudget: 20 failures, then 10 a minute, per credential
	// across addresses.
	credentialBudget = ratelimit.Tier{Rate: rate.Every(6 * time.Second), Burst: 20}
	// addressBudget: 30 failures, then 10 a minute, per address.
	addressBudget = ratelimit.Tier{Rate: rate.Every(6 * time.Second), Burst: 30}
	// pairBudget: 10 failures, then 10 a minute, per credential at one
	// address.
	pairBudget = ratelimit.Tier{Rate: rate.Every(6 * time.Second), Burst: 10}
)

// recentWindow is how long an address counts as having failed after its
// last failure.
const recentWindow = 15 * time.Minute

// LimiterTiers returns the tiers the Service's Limiter must know: the
// clients' tiers (the introspection and revocation budgets are the
// caller's tier), which are clientTiers as configured or, when nil,
// ratelimit.DefaultTiers; and the failure budgets.
func LimiterTiers(clientTiers map[string]ratelimit.Tier) map[string]ratelimit.Tier {
	if clientTiers == nil {
		clientTiers = ratelimit.DefaultTiers()
	}
	t := maps.Clone(clientTiers)
	t[TierAuthFailClient] = credentialBudget
	t[TierAuthFailIP] = addressBudget
	t[TierAuthFailPair] = pairBudget
	return t
}

// NewLimiter returns a Limiter with LimiterTiers(clientTiers).
func NewLimiter(clientTiers map[string]ratelimit.Tier, opts ...ratelimit.Option) *ratelimit.Limiter {
	return ratelimit.New(LimiterTiers(clientTiers), opts...)
}

const (
	failKeyCredential = "authfail:cred:"
	failKeyIP         = "authfail:ip:"
	failKeyPair       = "authfail:pair:"
	// maxBlocked bounds the refusal and recent-failure lists; beyond it the
	// oldest-expiring entries are forgotten, and the Limiter still counts.
	maxBlocked = 100_000
)

func pairKey(credential, ip string) string { return failKeyPair + credential + "\x00" + ip }

// failureGate spends the failure budgets and remembers who exhausted one,
// and which addresses failed lately. The Limiter only offers "take a
// token", but refusing an over-budget caller must happen BEFORE its
// secret is checked: so when a failure finds its budget empty, the key is
// refused until the bucket holds a token again, without spending tokens on
// the refusals themselves.
type failureGate struct {
	lim *ratelimit.Limiter

	n       atomic.Int64 // len(blocked)+len(recent), read without the lock on the hot path
	mu      sync.Mutex
	blocked map[string]time.Time // key → refused until
	recent  map[string]time.Time // address → failed lately, until
}

func newFailureGate(lim *ratelimit.Limiter) *failureGate {
	return &failureGate{lim: lim, blocked: make(map[string]time.Time), recent: make(map[string]time.Time)}
}

// until returns how long key is still refused, forgetting it once over.
// g.mu must be held.
func (g *failureGate) until(m map[string]time.Time, key string, now time.Time) time.Duration {
	t, ok := m[key]
	if !ok {
		return 0
	}
	if !now.Before(t) {
		delete(m, key)
		g.n.Add(-1)
		return 0
	}
	return t.Sub(now)
}

// gateDecision is what the gate says about an attempt before its
// credential is checked.
type gateDecision struct {
	// wait, when positive, refuses the attempt for that long.
	wait time.Duration
	// addressFailed: the address failed lately.
	addressFailed bool
	// credentialBlocked: the credential's budget across addresses is spent.
	credentialBlocked bool
	// addressBlocked: the address's budget is spent.
	addressBlocked bool
}

// check looks at an attempt of credential from ip before it is verified:
// it is refused only when the credential's own budget at that address is
// spent. The other facts are the caller's to weigh (the login page).
func (g *failureGate) check(credential, ip string, now time.Time) gateDecision {
	var d gateDecision
	if g.n.Load() == 0 {
		return d
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if credential != "" {
		d.wait = g.until(g.blocked, pairKey(credential, ip), now)
		d.credentialBlocked = g.until(g.blocked, failKeyCredential+credential, now) > 0
	}
	if w := g.until(g.blocked, failKeyIP+ip, now); w > 0 {
		d.addressBlocked = true
		if d.wait == 0 && credential == "" {
			// Nothing named: the address's budget is the only one.
			d.wait = w
		}
	}
	d.addressFailed = g.until(g.recent, ip, now) > 0
	return d
}

// addressWait is how long ip is refused on its own budget.
func (g *failureGate) addressWait(ip string, now time.Time) time.Duration {
	if g.n.Load() == 0 {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until(g.blocked, failKeyIP+ip, now)
}

// credentialWait is how long the credential's budget across addresses is
// spent.
func (g *failureGate) credentialWait(credential string, now time.Time) time.Duration {
	if g.n.Load() == 0 {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until(g.blocked, failKeyCredential+credential, now)
}

// fail spends one failure of the address's, the pair's and the
// credential's budgets, and marks the address as having failed. It reports
// whether a budget was already empty, and for how long the longest is.
func (g *failureGate) fail(credential, ip string, now time.Time) (time.Duration, bool) {
	var wait time.Duration
	spend := func(key, tier string) {
		if ok, retry := g.lim.Allow(key, tier); !ok {
			wait = max(wait, retry)
			g.block(g.blocked, key, now.Add(retry))
		}
	}
	spend(failKeyIP+ip, TierAuthFailIP)
	if credential != "" {
		spend(pairKey(credential, ip), TierAuthFailPair)
		spend(failKeyCredential+credential, TierAuthFailClient)
	}
	g.block(g.recent, ip, now.Add(recentWindow))
	return wait, wait > 0
}

func (g *failureGate) block(m map[string]time.Time, key string, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := m[key]; !ok {
		if len(m) >= maxBlocked {
			g.evict(m)
		}
		g.n.Add(1)
	}
	m[key] = until
}

// evict forgets the entry of m that ends first. g.mu must be held.
func (g *failureGate) evict(m map[string]time.Time) {
	var (
		first string
		at    time.Time
	)
	for k, until := range m {
		if first == "" || until.Before(at) {
			first, at = k, until
		}
	}
	delete(m, first)
	g.n.Add(-1)
}
