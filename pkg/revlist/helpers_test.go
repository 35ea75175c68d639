package revlist

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/internal/natsfake"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeSource is an in-memory revocation service: entries in sequence
// order, a head, a log_id. It can be made to fail, and records the
// since_seq of every call.
type fakeSource struct {
	mu      sync.Mutex
	logID   string
	entries []*revocationv1.Entry
	head    int64
	err     error
	calls   []int64
	// beforeReply, when set, runs after the answer is computed and before
	// it is returned, outside the lock.
	beforeReply func(req *revocationv1.ListRequest)
}

func newFakeSource(logID string) *fakeSource { return &fakeSource{logID: logID} }

var errDown = errors.New("revocation service down")

// add records an access-token revocation of id under the next sequence
// number and returns it.
func (s *fakeSource) add(id string) *revocationv1.Entry {
	return s.addEntry(&revocationv1.Entry{
		Kind:       kAccessToken,
		Id:         id,
		RevokeTime: timestamppb.Now(),
		ExpireTime: timestamppb.New(time.Now().Add(time.Hour)),
	})
}

func (s *fakeSource) addEntry(e *revocationv1.Entry) *revocationv1.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.head++
	e.Seq = s.head
	s.entries = append(s.entries, e)
	return proto.Clone(e).(*revocationv1.Entry)
}

// drop deletes the entry seq, as the service does once it expired.
func (s *fakeSource) drop(seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.entries {
		if e.GetSeq() == seq {
			s.entries = append(s.entries[:i], s.entries[i+1:]...)
			return
		}
	}
}

// replace stands for a new database behind the service.
func (s *fakeSource) replace(logID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logID, s.entries, s.head = logID, nil, 0
}

func (s *fakeSource) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *fakeSource) sinces() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.calls...)
}

func (s *fakeSource) List(ctx context.Context, req *revocationv1.ListRequest) (*revocationv1.ListResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.calls = append(s.calls, req.GetSinceSeq())
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return nil, err
	}
	size := int(req.GetPageSize())
	if size <= 0 {
		size = defaultPageSize
	}
	resp := &revocationv1.ListResponse{HeadSeq: s.head, LogId: s.logID}
	for _, e := range s.entries {
		if e.GetSeq() > req.GetSinceSeq() && len(resp.Entries) < size {
			resp.Entries = append(resp.Entries, proto.Clone(e).(*revocationv1.Entry))
		}
	}
	hook := s.beforeReply
	s.mu.Unlock()
	if hook != nil {
		hook(req)
	}
	return resp, nil
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ n atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.n.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.n.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.n.Add(int64(d)) }

// bus is a fake NATS server with a connection for the follower and one
// for publishing; both reconnect quickly.
type bus struct {
	srv      *natsfake.Server
	sub, pub *nats.Conn
}

func newBus(t *testing.T) *bus {
	t.Helper()
	b := &bus{srv: natsfake.Start(t)}
	b.sub = connect(t, b.srv.URL())
	b.pub = connect(t, b.srv.URL())
	return b
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(10*time.Millisecond),
		nats.ReconnectJitter(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// publish sends the Revoked event of e in list logID.
func (b *bus) publish(t *testing.T, e *revocationv1.Entry, logID string) {
	t.Helper()
	b.publishRaw(t, mustMarshal(t, EventOf(e, logID)))
}

func (b *bus) publishRaw(t *testing.T, data []byte) {
	t.Helper()
	if err := b.pub.Publish(Subject, data); err != nil {
		t.Fatal(err)
	}
	if err := b.pub.Flush(); err != nil {
		t.Fatal(err)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// quiet are options every follower test uses: a resync interval long
// enough that no tick happens unless the test asks for one.
func quiet() []Option {
	return []Option{WithResyncInterval(time.Hour), WithLogger(discardLogger())}
}

// start starts a follower and closes it when the test ends. With nc, it
// waits until the subscription reached the server.
func start(t *testing.T, f *Follower) {
	t.Helper()
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	if f.nc != nil {
		if err := f.nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// startReady starts f and waits for its first snapshot.
func startReady(t *testing.T, f *Follower) {
	t.Helper()
	start(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds, or fails the test after a few
// seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// revoked says whether the access token jti is revoked, failing the test
// when the follower cannot answer.
func revoked(t *testing.T, f *Follower, jti string) bool {
	t.Helper()
	r, err := f.CheckPrincipal(context.Background(), &authn.Principal{TokenID: jti})
	if err != nil {
		t.Fatalf("CheckPrincipal(%s): %v", jti, err)
	}
	return r
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logBuffer is a logger that keeps its records' messages for assertions.
type logBuffer struct {
	mu   sync.Mutex
	msgs []string
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(&logHandler{b}) }

func (b *logBuffer) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

type logHandler struct{ b *logBuffer }

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	h.b.msgs = append(h.b.msgs, r.Message)
	return nil
}
func (h *logHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logHandler) WithGroup(string) slog.Handler      { return h }
