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
