package revlist

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// CheckPrincipal reports whether p's credential is revoked. It implements
// authn.RevocationChecker: an error means the list cannot be trusted and
// the request must be refused. Before the first snapshot it waits for it
// until the start wait after Start has passed (or ctx is done), then
// returns ErrNotReady; when stale it returns ErrStale, unless WithFailOpen.
// Once ready and fresh it costs a clock read, one atomic load and
// comparison for readiness and staleness together, and the list's
// lookups; it does not allocate.
func (f *Follower) CheckPrincipal(ctx context.Context, p *authn.Principal) (bool, error) {
	now := f.now()
	if unixNanos(now) > f.freshUntil.Load() {
		var err error
		if now, err = f.untrusted(ctx, now); err != nil {
			return false, err
		}
	}
	return f.list.Load().RevokedPrincipal(p, now), nil
}

// Revoked reports whether the token with claims c is revoked. It
// implements authn.RevocationList, which has no error: when the list
// cannot be trusted (not ready after the start wait, or stale without
// WithFailOpen) it answers true, failing closed.
func (f *Follower) Revoked(c *authn.Claims) bool {
	now := f.now()
	if unixNanos(now) > f.freshUntil.Load() {
		var err error
		if now, err = f.untrusted(context.Background(), now); err != nil {
			return true
		}
	}
	return f.list.Load().RevokedClaims(c, now)
}

// untrusted is the slow path of a check: the list is not ready, or stale.
// It waits for the first snapshot, then says whether the list may answer,
// and at what time (later than now after a wait).
func (f *Follower) untrusted(ctx context.Context, now time.Time) (time.Time, error) {
	if !f.ready.Load() {
		if err := f.waitStart(ctx); err != nil {
			return now, err
		}
		now = f.now()
		if unixNanos(now) <= f.freshUntil.Load() {
			return now, nil
		}
	}
	if f.failOpen {
		return now, nil
	}
	return now, ErrStale
}

// waitStart waits for the first snapshot until the start wait after Start
// has passed: a check made later fails at once, so a revocation service
// that is down at start does not hold every request for the start wait.
// Before Start, a check waits the whole start wait.
func (f *Follower) waitStart(ctx context.Context) error {
	wait := f.startWait
	f.lifeMu.Lock()
	if f.started {
		wait -= time.Since(f.startedAt)
	}
	f.lifeMu.Unlock()
	if f.ready.Load() {
		return nil
	}
	if wait <= 0 {
		return ErrNotReady
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-f.readyCh:
		return nil
	case <-timer.C:
		return ErrNotReady
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
}
