package revlist

import (
	"context"
	"errors"
	"log/slog"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const (
	// maxWatchBackoff bounds the wait between reconnects of a failing
	// stream: short, since the stream is the fast path.
	maxWatchBackoff = 5 * time.Second
	// unimplementedRetry is the wait after a server without Watch: a
	// rolling upgrade may bring it.
	unimplementedRetry = time.Minute
	// watchIdleUntilOpen bounds the wait for the first message; after it,
	// idleHeartbeats heartbeat intervals without a message end the stream
	// (a connection that died without a word).
	watchIdleUntilOpen = 30 * time.Second
	idleHeartbeats     = 3
	minWatchIdle       = time.Second
)

// errLogReplaced ends a stream whose list is not the one the follower
// holds; the follower reconnects at once, from its new position.
var errLogReplaced = errors.New("revlist: watch: the revocation list was replaced")

// watchLoop keeps a Watch stream open from the first snapshot until ctx is
// done, reconnecting with backoff from the last applied sequence number.
func (f *Follower) watchLoop(ctx context.Context) {
	defer f.wg.Done()
	// The stream resumes from the snapshot's position.
	select {
	case <-ctx.Done():
		return
	case <-f.readyCh:
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	backoff, failing := minBackoff, false
	for {
		opened, err := f.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if opened {
			backoff = minBackoff
		}
		var delay time.Duration
		switch {
		case errors.Is(err, errLogReplaced):
		case status.Code(err) == codes.Unimplemented:
			delay = unimplementedRetry
			f.log.Info("revlist: the revocation service has no Watch; relying on the periodic re-sync",
				slog.Duration("retry_in", delay))
		default:
			delay = jitter(backoff)
			backoff = min(2*backoff, maxWatchBackoff)
			// A stream that was open and ended (lifetime, a server
			// stopping) is routine; one that cannot open is not.
			if !opened && !failing {
				f.log.Warn("revlist: watch failed; retrying with backoff", slog.String("error", errString(err)))
			} else {
				f.log.Debug("revlist: watch ended; reconnecting", slog.String("error", errString(err)))
			}
		}
		failing = !opened && !errors.Is(err, errLogReplaced)
		timer.Reset(delay)
		if !sleep(ctx, timer) {
			return
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "stream ended"
	}
	return err.Error()
}

// watchOnce opens one stream from the applied sequence number and applies
// what it carries until it breaks; opened reports whether it got as far
// as its first message.
func (f *Follower) watchOnce(parent context.Context) (opened bool, err error) {
	f.mu.Lock()
	since, logID := f.applied, f.logID
	f.mu.Unlock()

	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	idle := watchIdleUntilOpen
	watchdog := time.AfterFunc(idle, cancel)
	defer watchdog.Stop()
	defer f.watching.Store(false)

	stream, err := f.watcher.Watch(ctx, &revocationv1.WatchRequest{SinceSeq: since, LogId: logID})
	if err != nil {
		return false, err
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			return opened, err
		}
		now := f.now()
		f.markContact(unixNanos(now))
		if !opened {
			opened = true
			if hb := m.GetOpened().GetHeartbeatInterval(); hb.IsValid() && hb.AsDuration() > 0 {
				idle = max(idleHeartbeats*hb.AsDuration(), minWatchIdle)
			}
			if m.GetLogId() != logID {
				// The list was replaced: load the new one the way a
				// re-sync does, then stream it.
				if err := f.Resync(parent); err != nil {
					return opened, err
				}
				return opened, errLogReplaced
			}
			f.watching.Store(true)
			// Key changes made while the stream was down are not
			// replayed.
			f.keyEvent(nil)
		}
		watchdog.Reset(idle)
		if kr := m.GetKeyRotated(); kr != nil {
			f.keyEvent(kr)
			continue
		}
		if !f.applyStreamed(m.GetLogId(), m.GetEntry(), m.GetHeadSeq(), now) {
			return opened, errLogReplaced
		}
	}
}

// applyStreamed applies a message of a stream opened at a sequence number
// the follower had applied: the stream carries every entry after it in
// order, so the list is complete up to the message's head_seq once e is
// applied. It returns false when the message is of another list than the
// one followed (a re-sync replaced it meanwhile).
func (f *Follower) applyStreamed(logID string, e *revocationv1.Entry, through int64, now time.Time) bool {
	applied := false
	f.mu.Lock()
	if logID != f.logID {
		f.mu.Unlock()
		return false
	}
	if e != nil && e.GetSeq() > f.applied {
		f.targetLocked().Apply(e, now)
		f.applied = e.GetSeq()
		applied = true
	}
	f.applied = max(f.applied, through)
	f.head = max(f.head, through)
	f.mu.Unlock()
	if applied && f.onApply != nil {
		f.onApply([]*revocationv1.Entry{e})
	}
	return true
}

// keyEvent calls the key hook; nil means "the key set may have changed".
func (f *Follower) keyEvent(ev *eventsv1.KeyRotated) {
	if f.onKey != nil {
		f.onKey(ev)
	}
}

// onKeyData handles a KeyRotated event from NATS; one that cannot be
// decoded still says the key set changed.
func (f *Follower) onKeyData(data []byte) {
	ev := &eventsv1.KeyRotated{}
	if err := proto.Unmarshal(data, ev); err != nil {
		ev = nil
	}
	f.keyEvent(ev)
}
