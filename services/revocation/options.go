package revocation

import (
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// Defaults of the Service's options.
const (
	// DefaultOutboxInterval is how often the outbox publishes what the
	// fast path after Revoke could not.
	DefaultOutboxInterval = time.Second
	// DefaultCleanupInterval is how often expired entries are deleted.
	DefaultCleanupInterval = time.Minute
)

// Option configures a Service.
type Option func(*Service)

// WithNATS sets the connection Revoked events are published on, with
// JetStream. Nil (the default) publishes nothing: followers still catch up
// through List. The Service adds a status listener to nc but leaves its
// handlers alone.
func WithNATS(nc *nats.Conn) Option { return func(s *Service) { s.nc = nc } }

// WithLogger sets the logger (default: discard). Nil keeps the default.
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) {
		if l != nil {
			s.log = l
		}
	}
}

// WithClock replaces time.Now, for tests. Nil keeps the default.
func WithClock(now func() time.Time) Option {
	return func(s *Service) {
		if now != nil {
			s.clock = now
		}
	}
}

// WithOutboxInterval sets how often the outbox runs (default 1 s); it also
// runs whenever the NATS connection comes back. A non-positive d keeps the
// default.
func WithOutboxInterval(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.outboxEvery = d
		}
	}
}

// WithStreamReplicas sets how many servers of a NATS cluster keep the
// stream (default 1; at most 5, as JetStream allows): 3 in a three-node
// cluster, so that losing a node loses neither the stream nor its acks.
func WithStreamReplicas(n int) Option {
	return func(s *Service) {
		if n >= 1 && n <= 5 {
			s.replicas = n
		}
	}
}

// WithCleanupInterval sets how often expired entries are deleted (default
// 1 min). A non-positive d keeps the default.
func WithCleanupInterval(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.cleanupEvery = d
		}
	}
}

// WithWatchHeartbeat sets how long a Watch stream stays silent before a
// heartbeat (default 5 s). A non-positive d keeps the default.
func WithWatchHeartbeat(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.watchHeartbeat = d
		}
	}
}

// WithWatchPoll sets how often the store is read for new entries while
// nothing announces them (default 1 s): the bound on how late an entry
// committed at another replica reaches this one's Watch streams when its
// NATS event is lost, or without NATS. A non-positive d keeps the default.
func WithWatchPoll(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.watchPoll = d
		}
	}
}

// WithWatchLifetime bounds one Watch stream (default 30 min, spread over
// its last quarter; never past the caller's token expiry), so a caller
// authenticates again now and then. A non-positive d keeps the default.
func WithWatchLifetime(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.watchLifetime = d
		}
	}
}

// WithWatchLimits bounds the open Watch streams in total (default 1024) and
// per client (default 64). A non-positive value keeps its default.
func WithWatchLimits(total, perCaller int) Option {
	return func(s *Service) {
		if total > 0 {
			s.watches.total = total
		}
		if perCaller > 0 {
			s.watches.perCaller = perCaller
		}
	}
}

// WithWatchBuffer sets how many recent entries and key changes the Watch
// streams share in memory (default 4096). A stream further behind than
// that ends with RESOURCE_EXHAUSTED and resumes from the store. A
// non-positive n keeps the default.
func WithWatchBuffer(n int) Option {
	return func(s *Service) {
		if n > 0 {
			s.watchBuffer = n
		}
	}
}
