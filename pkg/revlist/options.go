package revlist

import (
	"log/slog"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
)

// Defaults of the follower's options.
const (
	defaultResyncInterval = 10 * time.Second
	defaultMaxStaleness   = 2 * time.Minute
	defaultStartWait      = 2 * time.Second
	defaultPageSize       = 1000
)

// maxPageSize is the largest page the revocation service serves.
const maxPageSize = 10000

// Option configures a Follower.
type Option func(*Follower)

// WithResyncInterval sets how often the follower re-syncs from its last
// applied sequence number even without a gap or a reconnect: the bound on
// how late a revocation whose event was lost is applied. Default 10s.
func WithResyncInterval(d time.Duration) Option {
	return func(f *Follower) {
		if d > 0 {
			f.resyncEvery = d
		}
	}
}

// WithMaxStaleness sets how long the list is trusted without contact with
// either the revocation service or NATS. Default 2m.
func WithMaxStaleness(d time.Duration) Option {
	return func(f *Follower) {
		if d > 0 {
			f.maxStale = d
		}
	}
}

// WithFailOpen lets a stale list keep answering from what it holds
// instead of refusing every request with ErrStale: revocations it knows
// still apply, newer ones may be missed. The stale transition is logged.
// It does not apply before the first snapshot, which always fails closed.
func WithFailOpen() Option {
	return func(f *Follower) { f.failOpen = true }
}

// WithStartWait sets how long after Start checks wait for the first
// snapshot before failing closed with ErrNotReady. Default 2s; 0 fails at
// once.
func WithStartWait(d time.Duration) Option {
	return func(f *Follower) {
		if d >= 0 {
			f.startWait = d
		}
	}
}

// WithOnApply calls fn after each entry is applied, from an event or a
// re-sync, outside the follower's locks (the token service drops its
// caches this way). fn runs on the event or re-sync goroutine: it must be
// quick, and must not call Resync.
func WithOnApply(fn func(*revocationv1.Entry)) Option {
	return func(f *Follower) {
		if fn != nil {
			f.addOnApply(func(entries []*revocationv1.Entry) {
				for _, e := range entries {
					fn(e)
				}
			})
		}
	}
}

// WithOnApplyBatch is WithOnApply for hooks that do better with many
// entries at once: fn gets the entries of each page a re-sync applied
// (up to the page size, in order), and the single entry of an event. A
// hook that writes to a database turns a snapshot of a million entries
// into a statement per page instead of one per entry. Both options may be
// given; hooks run in the order given.
func WithOnApplyBatch(fn func([]*revocationv1.Entry)) Option {
	return func(f *Follower) {
		if fn != nil {
			f.addOnApply(fn)
		}
	}
}

// addOnApply chains fn after the hooks already set.
func (f *Follower) addOnApply(fn func([]*revocationv1.Entry)) {
	prev := f.onApply
	if prev == nil {
		f.onApply = fn
		return
	}
	f.onApply = func(entries []*revocationv1.Entry) {
		prev(entries)
		fn(entries)
	}
}

// WithLogger sets the logger. Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(f *Follower) {
		if l != nil {
			f.log = l
		}
	}
}

// WithClock sets the clock that expiries and staleness are judged by
// (tests). Timers and the start wait use real time.
func WithClock(now func() time.Time) Option {
	return func(f *Follower) {
		if now != nil {
			f.now = now
		}
	}
}

// WithPageSize sets the page size of List calls, 1 to 10000. Default 1000.
func WithPageSize(n int32) Option {
	return func(f *Follower) {
		if n > 0 {
			f.pageSize = min(n, maxPageSize)
		}
	}
}

// WithWatch sets the stream a follower without NATS reads entries from (the
// revocation service's Watch, e.g. ClientWatcher). Without this option a
// Source that is a Watcher is used; nil turns streaming off, leaving the
// periodic re-sync alone. A follower with a NATS connection never streams.
func WithWatch(w Watcher) Option {
	return func(f *Follower) {
		f.watcher = w
		f.watcherSet = true
	}
}

// WithOnKeyEvent calls fn for each signing-key change (KeyRotated) the
// follower hears, on the Watch stream or, with NATS, on gatehouse.keys.v1;
// and with nil after every (re)connect of the stream or of NATS, since
// changes made while disconnected are not replayed. A JWT validator
// refetches its key set in fn (authn.JWTAuthenticator.Refresh), so a new
// key is known before its first token. fn runs on the follower's
// goroutines: it must be quick (start the fetch, do not wait for it).
func WithOnKeyEvent(fn func(*eventsv1.KeyRotated)) Option {
	return func(f *Follower) { f.onKey = fn }
}
