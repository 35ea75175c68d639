package revocation

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// Defaults of the Watch options.
const (
	// DefaultWatchHeartbeat is how long a stream stays silent before a
	// heartbeat; followers count every message as contact.
	DefaultWatchHeartbeat = 5 * time.Second
	// DefaultWatchPoll is how often the store is read for entries
	// committed at another replica whose event this one did not get.
	DefaultWatchPoll = time.Second
	// DefaultWatchLifetime bounds one stream, so that a caller whose
	// credential was revoked or changed authenticates again.
	DefaultWatchLifetime = 30 * time.Minute
	// DefaultMaxWatches and DefaultMaxWatchesPerCaller bound the open
	// streams of a process, and of one client among them.
	DefaultMaxWatches          = 1024
	DefaultMaxWatchesPerCaller = 64
	// DefaultWatchBuffer is how many entries and key changes the streams
	// share in memory; a stream further behind ends and resumes.
	DefaultWatchBuffer = 4096
)

const (
	// watchCatchUpPage is the page of a stream's catch-up from the store.
	watchCatchUpPage = 500
	// watchBatch is how many shared items a stream copies at a time.
	watchBatch = 64
)

// Watch implements RevocationService: the catch-up from the store after
// since_seq, page by page, then the shared feed. A stream holds no buffer
// of its own: a slow client is held back by gRPC flow control, and one
// that falls a whole feed behind ends with RESOURCE_EXHAUSTED and resumes
// from the store.
func (s *Service) Watch(req *revocationv1.WatchRequest, stream grpc.ServerStreamingServer[revocationv1.WatchResponse]) error {
	logID := s.LogID()
	if logID == "" {
		return errNotStarted
	}
	if req.GetSinceSeq() < 0 {
		return status.Error(codes.InvalidArgument, "since_seq must not be negative")
	}
	select {
	case <-s.watchStop:
		return errShuttingDown
	default:
	}
	ctx := stream.Context()
	release, err := s.watches.acquire(callerOf(ctx))
	if err != nil {
		return err
	}
	defer release()
	// Joined, and the feed based, before the catch-up reads the store, so
	// nothing committed meanwhile falls between the two.
	pos, based := s.feed.join()
	defer s.feed.leave()
	s.wakeTail()
	if err := s.waitBased(ctx, based); err != nil {
		return err
	}

	w := &watch{svc: s, stream: stream, logID: logID, cursor: req.GetSinceSeq()}
	if l := req.GetLogId(); l != "" && l != logID {
		// Another list's sequence numbers mean nothing here.
		w.cursor = 0
	}
	if err := w.send(&revocationv1.WatchResponse{Message: &revocationv1.WatchResponse_Opened{
		Opened: &revocationv1.WatchOpened{HeartbeatInterval: durationpb.New(s.watchHeartbeat)},
	}}); err != nil {
		return err
	}
	if err := w.catchUp(ctx); err != nil {
		return err
	}
	return w.live(ctx, pos, s.lifetime(ctx))
}

// waitBased waits until the feed is based: at once, or after one read of
// the store's head.
func (s *Service) waitBased(ctx context.Context, based <-chan struct{}) error {
	timer := time.NewTimer(tailReadLimit + s.watchPoll)
	defer timer.Stop()
	select {
	case <-based:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-s.watchStop:
		return errShuttingDown
	case <-timer.C:
		return status.Error(codes.Unavailable, "revocation watch: the revocation list cannot be read; retry later")
	}
}

// watch is one open stream.
type watch struct {
	svc    *Service
	stream grpc.ServerStreamingServer[revocationv1.WatchResponse]
	logID  string
	// cursor: every entry with seq <= cursor was sent.
	cursor   int64
	lastSent time.Time
}

func (w *watch) send(m *revocationv1.WatchResponse) error {
	m.LogId, m.HeadSeq = w.logID, w.cursor
	if err := w.stream.Send(m); err != nil {
		return err //nolint:wrapcheck // the stream's own status
	}
	w.lastSent = time.Now()
	return nil
}

func (w *watch) sendEntry(e *revocationv1.Entry, through int64) error {
	w.cursor = max(w.cursor, through)
	return w.send(&revocationv1.WatchResponse{Message: &revocationv1.WatchResponse_Entry{Entry: e}})
}

// catchUp sends the entries after the cursor from the store. It ends:
// every page but the last is full and moves the cursor forward.
func (w *watch) catchUp(ctx context.Context) error {
	s := w.svc
	for {
		if err := w.stopping(ctx); err != nil {
			return err
		}
		since := w.cursor
		es, head, err := s.store.List(ctx, since, watchCatchUpPage)
		if err != nil {
			return s.storeError(ctx, "watch", err)
		}
		for i, e := range es {
			through := e.Seq
			if i == len(es)-1 && len(es) < watchCatchUpPage {
				through = max(through, head)
			}
			if err := w.sendEntry(ToProto(e), through); err != nil {
				return err
			}
		}
		if len(es) < watchCatchUpPage {
			w.cursor = max(w.cursor, head)
			return nil
		}
		if last := es[len(es)-1].Seq; last <= since {
			return status.Error(codes.Internal, "revocation watch: the store's pages do not advance")
		}
	}
}

// stopping is the status that ends the stream when the server stops or
// the client went away, else nil.
func (w *watch) stopping(ctx context.Context) error {
	select {
	case <-w.svc.watchStop:
		return errShuttingDown
	default:
	}
	if err := ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	return nil
}

var (
	errShuttingDown = status.Error(codes.Unavailable, "revocation watch: server shutting down; reconnect with the last applied seq")
	errFellBehind   = status.Error(codes.ResourceExhausted, "revocation watch: the stream fell behind; reconnect with the last applied seq")
	errLifetime     = status.Error(codes.Unavailable, "revocation watch: stream lifetime reached; reconnect with the last applied seq")
	errExpired      = status.Error(codes.Unauthenticated, "revocation watch: the credential expired; reconnect with a fresh one")
)

// live sends the shared feed from pos until the stream ends.
func (w *watch) live(ctx context.Context, pos uint64, lifetime time.Duration) error {
	s := w.svc
	buf := make([]feedItem, watchBatch)
	end := time.NewTimer(lifetime)
	defer end.Stop()
	beat := time.NewTimer(s.watchHeartbeat)
	defer beat.Stop()
	for {
		v := s.feed.read(pos, buf)
		if v.behind {
			return errFellBehind
		}
		for _, it := range v.items {
			var err error
			switch {
			case it.key != nil:
				err = w.send(&revocationv1.WatchResponse{Message: &revocationv1.WatchResponse_KeyRotated{KeyRotated: it.key}})
			case it.entry.GetSeq() > w.cursor:
				err = w.sendEntry(it.entry, it.through)
			default:
				// Sent by the catch-up already.
				w.cursor = max(w.cursor, it.through)
			}
			if err != nil {
				return err
			}
		}
		pos = v.next
		if v.atEnd {
			w.cursor = max(w.cursor, v.through)
		}
		if len(v.items) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.watchStop:
			return errShuttingDown
		case <-end.C:
			if p, ok := authn.FromContext(ctx); ok && !p.ExpiresAt.IsZero() && !time.Now().Before(p.ExpiresAt) {
				return errExpired
			}
			return errLifetime
		case <-v.changed:
		case <-beat.C:
			// Silent while the store cannot be read: the follower's
			// staleness bound then applies as if the stream were down.
			if since := time.Since(w.lastSent); since >= s.watchHeartbeat && s.feedFresh(v.lastRead) {
				if err := w.send(&revocationv1.WatchResponse{Message: &revocationv1.WatchResponse_Heartbeat{Heartbeat: &revocationv1.WatchHeartbeat{}}}); err != nil {
					return err
				}
			}
			beat.Reset(max(s.watchHeartbeat-time.Since(w.lastSent), time.Millisecond))
		}
	}
}

// feedFresh reports whether the tail read the store recently enough for
// a heartbeat to vouch for the stream.
func (s *Service) feedFresh(lastRead int64) bool {
	return time.Since(time.Unix(0, lastRead)) <= 3*s.watchPoll+s.watchHeartbeat
}

// lifetime is how long a stream may stay open: the configured lifetime,
// spread so that streams opened together do not reconnect together, and
// no longer than the caller's token is valid.
func (s *Service) lifetime(ctx context.Context) time.Duration {
	d := s.watchLifetime
	if q := d / 4; q > 0 {
		d -= rand.N(q) //nolint:gosec // reconnect spread, not a secret
	}
	if p, ok := authn.FromContext(ctx); ok && !p.ExpiresAt.IsZero() {
		d = min(d, max(time.Until(p.ExpiresAt), 0))
	}
	return d
}

// callerOf names the caller for the per-caller limit: the client, else
// the subject.
func callerOf(ctx context.Context) string {
	p, ok := authn.FromContext(ctx)
	if !ok {
		return ""
	}
	if p.ClientID != "" {
		return p.ClientID
	}
	return p.Subject
}

// watchLimits counts open streams.
type watchLimits struct {
	mu        sync.Mutex
	total     int
	perCaller int
	open      int
	byCaller  map[string]int
}

// acquire admits one more stream of caller, or answers RESOURCE_EXHAUSTED.
func (l *watchLimits) acquire(caller string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.total:
		return nil, status.Error(codes.ResourceExhausted, "revocation watch: too many open streams; retry later")
	case l.byCaller[caller] >= l.perCaller:
		return nil, status.Error(codes.ResourceExhausted, "revocation watch: too many open streams for this client; retry later")
	}
	l.open++
	l.byCaller[caller]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.open--
			if l.byCaller[caller]--; l.byCaller[caller] <= 0 {
				delete(l.byCaller, caller)
			}
		})
	}, nil
}

// Watches is the number of open Watch streams.
func (s *Service) Watches() int {
	s.watches.mu.Lock()
	defer s.watches.mu.Unlock()
	return s.watches.open
}

// EndWatches ends every open Watch stream with UNAVAILABLE and refuses new
// ones, so that a graceful stop of the gRPC server does not wait on them;
// clients reconnect to another replica. Close does it too.
func (s *Service) EndWatches() {
	s.endOnce.Do(func() { close(s.watchStop) })
}

// KeyRotated forwards a signing-key change to every open Watch stream.
// With a NATS connection the Service hears them on gatehouse.keys.v1
// itself; this is for a process that learns of them otherwise.
func (s *Service) KeyRotated(ev *eventsv1.KeyRotated) {
	if ev == nil {
		return
	}
	s.feed.appendKey(proto.CloneOf(ev))
}

// onKeyEvent forwards a KeyRotated event heard on NATS. One that cannot be
// decoded still announces a change: it goes out without a kid, which
// tells followers to refetch.
func (s *Service) onKeyEvent(data []byte) {
	ev := &eventsv1.KeyRotated{}
	if err := proto.Unmarshal(data, ev); err != nil {
		ev = &eventsv1.KeyRotated{}
	}
	s.feed.appendKey(ev)
}
