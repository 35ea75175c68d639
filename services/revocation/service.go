package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// Service is the gRPC RevocationService over a Store, and the publisher of
// its Revoked events. The auth rules in revocation.proto decide who may
// call what: Revoke is for admins, the rest for internal callers.
type Service struct {
	revocationv1.UnimplementedRevocationServiceServer

	store        Store
	nc           *nats.Conn
	log          *slog.Logger
	clock        func() time.Time
	outboxEvery  time.Duration
	cleanupEvery time.Duration
	replicas     int

	// Set by Start. js is written before logID, and the RPCs load logID
	// first, so a started Service always sees js.
	logID       atomic.Pointer[string]
	js          jetstream.JetStream
	streamReady atomic.Bool // the stream is known to exist

	runMu   sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	subs    []*nats.Subscription

	// Watch streams: the feed they share, its reader's wake-up, their
	// limits, and the channel closed to end them all.
	feed           *feed
	tailWake       chan struct{}
	watches        watchLimits
	watchStop      chan struct{}
	endOnce        sync.Once
	watchHeartbeat time.Duration
	watchPoll      time.Duration
	watchLifetime  time.Duration
	watchBuffer    int
}

var _ revocationv1.RevocationServiceServer = (*Service)(nil)

// New returns the Service over store. It does nothing else: Start reads
// the log id and starts the outbox and cleanup loops, and every RPC answers
// Unavailable until then.
func New(store Store, opts ...Option) *Service {
	s := &Service{
		store:        store,
		log:          slog.New(slog.DiscardHandler),
		clock:        time.Now,
		outboxEvery:  DefaultOutboxInterval,
		cleanupEvery: DefaultCleanupInterval,
		replicas:     1,

		tailWake:       make(chan struct{}, 1),
		watches:        watchLimits{total: DefaultMaxWatches, perCaller: DefaultMaxWatchesPerCaller, byCaller: map[string]int{}},
		watchStop:      make(chan struct{}),
		watchHeartbeat: DefaultWatchHeartbeat,
		watchPoll:      DefaultWatchPoll,
		watchLifetime:  DefaultWatchLifetime,
		watchBuffer:    DefaultWatchBuffer,
	}
	for _, opt := range opts {
		opt(s)
	}
	s.feed = newFeed(s.watchBuffer)
	return s
}

// now is the clock truncated as the stores truncate, so that an entry kept
// in memory equals the same entry read back.
func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// Start reads the log id, makes sure the JetStream stream exists (when
// there is a NATS connection and it is up; otherwise the outbox does it
// later, so a NATS outage does not stop the source of truth from starting)
// and starts the outbox and cleanup loops. ctx bounds this start-up work
// only; the loops run until Close.
func (s *Service) Start(ctx context.Context) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.closed {
		return errors.New("revocation: service closed")
	}
	if s.started {
		return errors.New("revocation: service already started")
	}
	logID, err := s.store.LogID(ctx)
	if err != nil {
		return fmt.Errorf("revocation: start: %w", err)
	}
	if s.nc != nil {
		js, err := jetstream.New(s.nc)
		if err != nil {
			return fmt.Errorf("revocation: start: jetstream: %w", err)
		}
		s.js = js
		if s.nc.IsConnected() {
			if err := s.ensureStream(ctx); err != nil {
				s.log.WarnContext(ctx, "revocation stream not ready; the outbox will retry", "error", err)
			}
		}
	}
	if s.nc != nil {
		if err := s.subscribe(); err != nil {
			return err
		}
	}
	s.logID.Store(&logID)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.started = true
	if s.nc != nil {
		// Registered before Start returns, so no reconnect is missed.
		connected := s.nc.StatusChanged(nats.CONNECTED)
		s.wg.Go(func() { s.runOutbox(runCtx, logID, connected) })
	}
	s.wg.Go(func() { s.runCleanup(runCtx) })
	s.wg.Go(func() { s.runTail(runCtx) })
	s.log.InfoContext(ctx, "revocation list ready", "log_id", logID, "nats", s.nc != nil)
	return nil
}

// subscribe listens for KeyRotated events, forwarded to the Watch streams
// as they are. The subscription ends with Close.
func (s *Service) subscribe() error {
	keys, err := s.nc.Subscribe(authn.KeysSubject, func(m *nats.Msg) { s.onKeyEvent(m.Data) })
	if err != nil {
		return fmt.Errorf("revocation: start: subscribe %s: %w", authn.KeysSubject, err)
	}
	s.subs = []*nats.Subscription{keys}
	return nil
}

// Close ends the Watch streams, stops the loops and waits for them. It is
// safe to call more than once, and before Start.
func (s *Service) Close() {
	s.EndWatches()
	s.runMu.Lock()
	s.closed = true
	cancel, subs := s.cancel, s.subs
	s.subs = nil
	s.runMu.Unlock()
	for _, sub := range subs {
		_ = sub.Unsubscribe()
	}
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
}

// LogID is the id of the list the Service serves; "" before Start.
func (s *Service) LogID() string {
	if p := s.logID.Load(); p != nil {
		return *p
	}
	return ""
}

// errNotStarted is the answer of every RPC before Start.
var errNotStarted = status.Error(codes.Unavailable, "revocation list not loaded yet")

// Revoke implements RevocationService. The entry is committed before any
// publishing, and a failure to publish never fails the call: the outbox
// and the followers' re-sync cover it.
func (s *Service) Revoke(ctx context.Context, req *revocationv1.RevokeRequest) (*revocationv1.RevokeResponse, error) {
	logID := s.LogID()
	if logID == "" {
		return nil, errNotStarted
	}
	now := s.now()
	if err := validateRevoke(req, now); err != nil {
		return nil, err
	}
	e := Entry{
		Kind:      req.GetKind(),
		ID:        req.GetId(),
		Reason:    req.GetReason(),
		RevokedAt: now,
		ExpiresAt: fromTimestamp(req.GetExpireTime()),
	}
	stored, created, err := s.store.Revoke(ctx, e)
	if err != nil {
		return nil, s.storeError(ctx, "revoke", err)
	}
	s.log.InfoContext(ctx, "revoked",
		"kind", stored.Kind.String(), "id", stored.ID, "seq", stored.Seq, "created", created)
	if created {
		// The feed's copy is shared by the streams, read-only.
		if !s.feed.appendNext(ToProto(stored)) {
			s.wakeTail()
		}
		s.publishNow(ctx, logID, stored)
	}
	return &revocationv1.RevokeResponse{Entry: ToProto(stored)}, nil
}

// Check implements RevocationService. An expired entry that is not yet
// deleted answers not revoked: what it names has expired anyway.
func (s *Service) Check(ctx context.Context, req *revocationv1.CheckRequest) (*revocationv1.CheckResponse, error) {
	if s.LogID() == "" {
		return nil, errNotStarted
	}
	if err := validateTarget(req.GetKind(), req.GetId()); err != nil {
		return nil, err
	}
	e, err := s.store.Get(ctx, req.GetKind(), req.GetId())
	if errors.Is(err, ErrNotFound) {
		return &revocationv1.CheckResponse{}, nil
	}
	if err != nil {
		return nil, s.storeError(ctx, "check", err)
	}
	if e.Expired(s.now()) {
		return &revocationv1.CheckResponse{}, nil
	}
	return &revocationv1.CheckResponse{Revoked: true, Entry: ToProto(e)}, nil
}

// List implements RevocationService. Expired entries not yet deleted may
// be among the entries; followers drop them.
func (s *Service) List(ctx context.Context, req *revocationv1.ListRequest) (*revocationv1.ListResponse, error) {
	logID := s.LogID()
	if logID == "" {
		return nil, errNotStarted
	}
	size, err := validateList(req)
	if err != nil {
		return nil, err
	}
	es, head, err := s.store.List(ctx, req.GetSinceSeq(), size)
	if err != nil {
		return nil, s.storeError(ctx, "list", err)
	}
	resp := &revocationv1.ListResponse{
		Entries: make([]*revocationv1.Entry, 0, len(es)),
		HeadSeq: head,
		LogId:   logID,
	}
	for _, e := range es {
		resp.Entries = append(resp.Entries, ToProto(e))
	}
	return resp, nil
}

// Head implements RevocationService.
func (s *Service) Head(ctx context.Context, _ *revocationv1.HeadRequest) (*revocationv1.HeadResponse, error) {
	logID := s.LogID()
	if logID == "" {
		return nil, errNotStarted
	}
	head, err := s.store.Head(ctx)
	if err != nil {
		return nil, s.storeError(ctx, "head", err)
	}
	return &revocationv1.HeadResponse{Seq: head, LogId: logID}, nil
}

// storeError maps a store error to a gRPC status once, at the API
// boundary. The detail is logged, never returned: it can quote SQL.
func (s *Service) storeError(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	s.log.ErrorContext(ctx, "revocation store error", "op", op, "error", err)
	return status.Error(codes.Unavailable, "revocation list unavailable")
}
