package revocation

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
)

// Stream is the JetStream stream that keeps Revoked events, so a follower
// that was away a while can replay them instead of paging through List.
const Stream = "GATEHOUSE_REVOCATION"

const (
	// streamMaxAge bounds what the stream keeps; List covers older.
	streamMaxAge = 24 * time.Hour
	// dedupWindow is how long JetStream remembers message ids: longer
	// than any retry of one entry by the fast path and the outboxes of
	// all replicas.
	dedupWindow = 2 * time.Minute
	// publishTimeout bounds one publish, so that Revoke stays fast when
	// NATS is slow; the outbox takes over.
	publishTimeout = time.Second
	// outboxBatch and outboxMaxBatches bound one outbox round.
	outboxBatch      = 100
	outboxMaxBatches = 100
)

func streamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:       Stream,
		Replicas:   replicas,
		Subjects:   []string{revlist.Subject},
		Storage:    jetstream.FileStorage,
		MaxAge:     streamMaxAge,
		Duplicates: dedupWindow,
	}
}

// ensureStream creates the stream, or brings an existing one to our
// configuration.
func (s *Service) ensureStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*publishTimeout)
	defer cancel()
	if _, err := s.js.CreateOrUpdateStream(ctx, streamConfig(s.replicas)); err != nil {
		return fmt.Errorf("revocation: ensure stream %s: %w", Stream, err)
	}
	s.streamReady.Store(true)
	return nil
}

// msgID identifies e's event for JetStream's deduplication: the same entry
// published by two replicas, or twice by one, is stored once.
func msgID(logID string, seq int64) string { return logID + ":" + strconv.FormatInt(seq, 10) }

// publish sends e's Revoked event and waits for the stream's ack.
func (s *Service) publish(ctx context.Context, logID string, e Entry) error {
	b, err := proto.Marshal(revlist.EventOf(ToProto(e), logID))
	if err != nil {
		return fmt.Errorf("revocation: marshal event %d: %w", e.Seq, err)
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if _, err := s.js.Publish(ctx, revlist.Subject, b, jetstream.WithMsgID(msgID(logID, e.Seq))); err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			// The stream may be gone (a NATS server that lost its
			// store): have the outbox create it again.
			s.streamReady.Store(false)
		}
		return fmt.Errorf("revocation: publish %d: %w", e.Seq, err)
	}
	return nil
}

// publishNow is the fast path right after a Revoke commits. It skips what
// cannot succeed at once (no connection, no stream yet) rather than wait:
// the entry stays in the outbox.
func (s *Service) publishNow(ctx context.Context, logID string, e Entry) {
	if s.js == nil || !s.nc.IsConnected() || !s.streamReady.Load() {
		return
	}
	// The entry is committed: publish it even if the caller goes away.
	ctx = context.WithoutCancel(ctx)
	if err := s.publish(ctx, logID, e); err != nil {
		s.log.WarnContext(ctx, "revocation event not published; the outbox will retry", "seq", e.Seq, "error", err)
		return
	}
	if err := s.store.MarkPublished(ctx, []int64{e.Seq}); err != nil {
		// The outbox publishes it again; the message id deduplicates.
		s.log.WarnContext(ctx, "revocation event published but not marked", "seq", e.Seq, "error", err)
	}
}

// runOutbox publishes the outbox every outbox interval and whenever the
// connection comes back, until ctx is done.
func (s *Service) runOutbox(ctx context.Context, logID string, connected chan nats.Status) {
	defer s.nc.RemoveStatusListener(connected)
	ticker := time.NewTicker(s.outboxEvery)
	defer ticker.Stop()
	failing := false
	for {
		failing = s.drainOutbox(ctx, logID, failing)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case _, ok := <-connected:
			if !ok {
				connected = nil // closed: the ticker still runs
			}
		}
	}
}

// drainOutbox publishes unpublished entries in seq order and marks them,
// stopping at the first failure: the next round retries from there. It
// returns whether the round failed, and logs a failure at warn only when
// the previous round succeeded, so an outage is not logged every second.
// Replicas may drain at the same time; the duplicates they publish are
// dropped by the stream's deduplication and by followers, which ignore
// seqs they have.
func (s *Service) drainOutbox(ctx context.Context, logID string, wasFailing bool) (failing bool) {
	if !s.nc.IsConnected() {
		return wasFailing // nothing to try: wait for the reconnect
	}
	fail := func(msg string, err error) bool {
		if ctx.Err() != nil {
			return wasFailing
		}
		if wasFailing {
			s.log.DebugContext(ctx, msg, "error", err)
		} else {
			s.log.WarnContext(ctx, msg, "error", err)
		}
		return true
	}
	if !s.streamReady.Load() {
		if err := s.ensureStream(ctx); err != nil {
			return fail("revocation outbox: stream not ready", err)
		}
	}
	for range outboxMaxBatches {
		es, err := s.store.Unpublished(ctx, outboxBatch)
		if err != nil {
			return fail("revocation outbox: read", err)
		}
		var done []int64
		var pubErr error
		for _, e := range es {
			if pubErr = s.publish(ctx, logID, e); pubErr != nil {
				break
			}
			done = append(done, e.Seq)
		}
		if err := s.store.MarkPublished(ctx, done); err != nil {
			return fail("revocation outbox: mark published", err)
		}
		if pubErr != nil {
			return fail("revocation outbox: publish", pubErr)
		}
		if len(es) < outboxBatch {
			break
		}
	}
	if wasFailing {
		s.log.InfoContext(ctx, "revocation outbox: publishing again")
	}
	return false
}
