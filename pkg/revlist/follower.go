package revlist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/nats-io/nats.go"
)

// Internal timings.
const (
	// sweepEvery is how often expired entries are dropped; checks compare
	// expiries anyway, so this only bounds memory.
	sweepEvery = 30 * time.Second
	// listTimeout bounds one List call, so a hung call cannot stall
	// re-syncs forever.
	listTimeout = 30 * time.Second
	// subscribeTimeout bounds the wait for the server to confirm the
	// subscription before the first snapshot.
	subscribeTimeout = time.Second
	// minBackoff is the first retry delay after a failed re-sync; it
	// doubles up to the re-sync interval.
	minBackoff = 50 * time.Millisecond
)

// Follower keeps a List in step with the revocation service: it loads a
// snapshot with List at start, applies Revoked events from NATS in
// sequence order, and re-syncs from its last applied sequence number on a
// gap, a NATS reconnect and a periodic tick. NATS is the fast path, never
// the only path: a lost event delays a revocation by at most the re-sync
// interval, and none is lost. Without NATS the fast path is the
// revocation service's Watch stream, resumed from the last applied
// sequence number after every break; the periodic re-sync stays as the
// safety net.
//
// A follower implements authn.RevocationChecker and authn.RevocationList.
// It fails closed: before the first snapshot (after the start wait) and
// when out of contact for longer than the maximum staleness, checks are
// refused, unless WithFailOpen allows a stale list to answer.
type Follower struct {
	src Source
	nc  *nats.Conn

	// Options, fixed after NewFollower.
	resyncEvery time.Duration
	maxStale    time.Duration
	startWait   time.Duration
	failOpen    bool
	onApply     func([]*revocationv1.Entry)
	onKey       func(*eventsv1.KeyRotated)
	watcher     Watcher
	watcherSet  bool // WithWatch was given, nil included
	log         *slog.Logger
	now         func() time.Time
	pageSize    int32
	// healthEvery is how often the NATS connection is looked at for
	// staleness; sweepEvery how often expired entries are dropped.
	healthEvery time.Duration
	sweepEvery  time.Duration

	// The hot path reads only these.
	list atomic.Pointer[List]
	// freshUntil (Unix nanoseconds) is when the list stops being
	// trusted: last contact plus the maximum staleness once ready, 0
	// before. One load and one comparison answer both "ready?" and
	// "stale?".
	freshUntil  atomic.Int64
	lastContact atomic.Int64 // Unix nanoseconds; 0 before any contact
	ready       atomic.Bool
	readyCh     chan struct{} // closed when ready
	watching    atomic.Bool   // a Watch stream is open

	// mu guards the sequence state. Events and re-syncs apply entries
	// with it held, one seq check at a time, so applied never moves
	// backwards and no entry older than one applied is applied after it.
	mu      sync.Mutex
	known   bool   // logID learnt from a List answer
	logID   string // the list followed
	applied int64  // last applied sequence number
	head    int64  // head_seq of the last re-sync
	// building is the list being loaded after the log_id changed; it
	// replaces list when complete, so checks answer from the old list
	// meanwhile instead of from a half-loaded one.
	building *List
	resyncs  uint64
	gaps     uint64

	// syncMu serializes re-syncs.
	syncMu sync.Mutex
	// kick asks the sync loop for a re-sync (a gap); it holds one
	// request, so requests made during a re-sync coalesce into one more.
	kick chan struct{}

	lifeMu    sync.Mutex
	started   bool
	closed    bool
	startedAt time.Time
	cancel    context.CancelFunc
	stopSub   func()
	stopKeys  func()
	statusCh  chan nats.Status
	wg        sync.WaitGroup

	// Logging state, each owned by one goroutine.
	failing   int  // consecutive failed re-syncs (sync loop)
	wasStale  bool // stale at the last health tick (health loop)
	failSince time.Time
}

var (
	_ authn.RevocationChecker = (*Follower)(nil)
	_ authn.RevocationList    = (*Follower)(nil)
)

// NewFollower returns a follower reading src and, when nc is not nil,
// Revoked events from nc. Without NATS it streams from the revocation
// service's Watch when src is a Watcher (ClientSource is one) or WithWatch
// names one, and otherwise relies on periodic re-syncs alone. Call Start
// to begin.
func NewFollower(src Source, nc *nats.Conn, opts ...Option) *Follower {
	f := &Follower{
		src:         src,
		nc:          nc,
		resyncEvery: defaultResyncInterval,
		maxStale:    defaultMaxStaleness,
		startWait:   defaultStartWait,
		log:         slog.Default(),
		now:         time.Now,
		pageSize:    defaultPageSize,
		sweepEvery:  sweepEvery,
		readyCh:     make(chan struct{}),
		kick:        make(chan struct{}, 1),
	}
	for _, opt := range opts {
		opt(f)
	}
	if w, ok := src.(Watcher); ok && !f.watcherSet {
		f.watcher = w
	}
	// Look at NATS often enough that staleness is judged to within a
	// quarter of its bound, at most every second.
	f.healthEvery = min(max(f.maxStale/4, 10*time.Millisecond), time.Second)
	f.list.Store(NewList())
	return f
}

// Start subscribes to Revoked events and starts the loop that loads the
// first snapshot at once (retrying with backoff until it succeeds), then
// re-syncs on each tick, gap and NATS reconnect, and sweeps expired
// entries. It returns without waiting for the snapshot (see WaitReady).
// The follower runs until Close or until ctx is done.
func (f *Follower) Start(ctx context.Context) error {
	f.lifeMu.Lock()
	defer f.lifeMu.Unlock()
	switch {
	case f.closed:
		return errors.New("revlist: start: follower closed")
	case f.started:
		return errors.New("revlist: start: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	if f.nc != nil {
		stop, err := authn.Follow(ctx, f.nc, Subject, f.onEvent)
		if err != nil {
			cancel()
			return fmt.Errorf("revlist: start: %w", err)
		}
		f.stopSub = stop
		if f.onKey != nil {
			stopKeys, err := authn.Follow(ctx, f.nc, authn.KeysSubject, f.onKeyData)
			if err != nil {
				stop()
				cancel()
				return fmt.Errorf("revlist: start: %w", err)
			}
			f.stopKeys = stopKeys
		}
		// A listener channel, not the connection's reconnect handler,
		// which belongs to whoever made the connection.
		f.statusCh = f.nc.StatusChanged(nats.CONNECTED)
		if f.nc.IsConnected() {
			f.markContact(unixNanos(f.now()))
		}
	}
	f.started = true
	f.startedAt = time.Now()
	f.cancel = cancel
	f.wg.Add(2)
	go f.syncLoop(ctx, f.statusCh)
	go f.healthLoop(ctx)
	if f.nc == nil && f.watcher != nil {
		f.wg.Add(1)
		go f.watchLoop(ctx)
	}
	return nil
}

// Close stops the follower and waits for its goroutines. It is safe to
// call more than once. The list keeps answering from what it holds, and
// turns stale after the maximum staleness.
func (f *Follower) Close() {
	f.lifeMu.Lock()
	if f.closed {
		f.lifeMu.Unlock()
		return
	}
	f.closed = true
	cancel, stop, stopKeys, status := f.cancel, f.stopSub, f.stopKeys, f.statusCh
	f.lifeMu.Unlock()
	if stop != nil {
		stop()
	}
	if stopKeys != nil {
		stopKeys()
	}
	if status != nil {
		f.nc.RemoveStatusListener(status)
	}
	if cancel != nil {
		cancel()
	}
	f.wg.Wait()
}

// Ready reports whether the first snapshot is loaded.
func (f *Follower) Ready() bool { return f.ready.Load() }

// WaitReady waits until the first snapshot is loaded or ctx is done.
func (f *Follower) WaitReady(ctx context.Context) error {
	select {
	case <-f.readyCh:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("revlist: wait for the first snapshot: %w", ctx.Err())
	}
}

// syncLoop re-syncs at start, then on each trigger, with backoff after
// failures.
func (f *Follower) syncLoop(ctx context.Context, status chan nats.Status) {
	defer f.wg.Done()
	timer := time.NewTimer(0) // the first sync, at once
	defer timer.Stop()
	f.confirmSubscription(ctx)
	for {
		if !f.waitTrigger(ctx, timer, &status) {
			return
		}
		if !f.resyncUntilDone(ctx, timer) {
			return
		}
		timer.Reset(f.resyncEvery)
	}
}

// resyncUntilDone re-syncs, retrying with backoff until it succeeds; it
// returns false when ctx is done first. While failing, only the backoff
// timer triggers a retry: gaps and reconnects would hammer a service that
// is down.
func (f *Follower) resyncUntilDone(ctx context.Context, timer *time.Timer) bool {
	backoff := minBackoff
	for {
		err := f.Resync(ctx)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			f.noteSuccess()
			return true
		}
		f.noteFailure(err)
		timer.Reset(jitter(backoff))
		backoff = min(2*backoff, max(f.resyncEvery, minBackoff))
		if !sleep(ctx, timer) {
			return false
		}
	}
}

// confirmSubscription waits, briefly, until the server has the
// subscription, so the first snapshot is read after it: an event the
// snapshot misses then reaches us (and is covered by a re-sync when it
// arrives before the snapshot is applied). When NATS is down or slow the
// snapshot goes ahead anyway; the reconnect and the periodic re-sync
// cover that window.
func (f *Follower) confirmSubscription(ctx context.Context) {
	if f.nc == nil || !f.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	if err := f.nc.FlushWithContext(ctx); err != nil && ctx.Err() == nil {
		f.log.Debug("revlist: NATS flush before the first snapshot failed", slog.String("error", err.Error()))
	}
}

// waitTrigger waits for the timer, a gap or a reconnect; it returns false
// when ctx is done.
func (f *Follower) waitTrigger(ctx context.Context, timer *time.Timer, status *chan nats.Status) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-f.kick:
			return true
		case _, ok := <-*status:
			if ok {
				// Reconnected: events published while disconnected
				// are lost to us, so catch up.
				f.keyEvent(nil)
				return true
			}
			*status = nil // listener removed; a nil channel blocks
		}
	}
}

// sleep waits for timer; it returns false when ctx is done first.
func sleep(ctx context.Context, timer *time.Timer) bool {
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// jitter spreads d over [d/2, d), so a fleet of validators does not
// retry in step after an outage of the revocation service.
func jitter(d time.Duration) time.Duration {
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half) //nolint:gosec // retry jitter, not a secret
}

// trigger asks the sync loop for a re-sync without blocking.
func (f *Follower) trigger() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// noteFailure logs a failed re-sync at the first failure only.
func (f *Follower) noteFailure(err error) {
	f.failing++
	if f.failing > 1 {
		return
	}
	f.failSince = time.Now()
	f.log.Warn("revlist: re-sync failed; retrying with backoff",
		slog.Bool("ready", f.ready.Load()), slog.String("error", err.Error()))
}

// noteSuccess logs the recovery after failures.
func (f *Follower) noteSuccess() {
	if f.failing == 0 {
		return
	}
	f.log.Info("revlist: re-sync recovered",
		slog.Int("failures", f.failing), slog.Duration("after", time.Since(f.failSince)))
	f.failing = 0
}

// healthLoop watches the NATS connection for staleness and sweeps
// expired entries.
func (f *Follower) healthLoop(ctx context.Context) {
	defer f.wg.Done()
	health := time.NewTicker(f.healthEvery)
	defer health.Stop()
	sweep := time.NewTicker(f.sweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-health.C:
			f.checkHealth()
		case <-sweep.C:
			if n := f.list.Load().Sweep(f.now()); n > 0 {
				f.log.Debug("revlist: swept expired entries", slog.Int("entries", n))
			}
		}
	}
}

// checkHealth records contact when NATS is connected (events would reach
// us), and logs stale transitions.
func (f *Follower) checkHealth() {
	now := unixNanos(f.now())
	if f.nc != nil && f.nc.IsConnected() {
		f.markContact(now)
	}
	stale := f.ready.Load() && now > f.freshUntil.Load()
	if stale == f.wasStale {
		return
	}
	f.wasStale = stale
	if !stale {
		f.log.Info("revlist: revocation list fresh again")
		return
	}
	answer := "refusing every check"
	if f.failOpen {
		answer = "answering from the stale list (fail open)"
	}
	f.log.Warn("revlist: revocation list stale: no contact with the revocation service or NATS",
		slog.Duration("max_staleness", f.maxStale),
		slog.Time("last_contact", time.Unix(0, f.lastContact.Load())),
		slog.String("checks", answer))
}

// markContact records contact at t (Unix nanoseconds) and extends the
// trust in the list once it is ready.
func (f *Follower) markContact(t int64) {
	storeMax(&f.lastContact, t)
	if f.ready.Load() {
		storeMax(&f.freshUntil, addSat(t, int64(f.maxStale)))
	}
}

// storeMax sets v to x unless it holds more.
func storeMax(v *atomic.Int64, x int64) {
	for {
		old := v.Load()
		if old >= x || v.CompareAndSwap(old, x) {
			return
		}
	}
}

// addSat is a+b (b >= 0), saturating at the int64 maximum.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
