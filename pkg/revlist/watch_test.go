package revlist

import (
	"context"
	"sync"
	"testing"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeWatcher is a fakeSource with a Watch whose streams the test drives.
type fakeWatcher struct {
	*fakeSource
	mu      sync.Mutex
	reqs    []*revocationv1.WatchRequest
	streams chan *fakeStream
}

func newFakeWatcher(logID string) *fakeWatcher {
	return &fakeWatcher{fakeSource: newFakeSource(logID), streams: make(chan *fakeStream, 16)}
}

func (w *fakeWatcher) Watch(ctx context.Context, req *revocationv1.WatchRequest) (WatchStream, error) {
	w.mu.Lock()
	w.reqs = append(w.reqs, req)
	w.mu.Unlock()
	s := &fakeStream{ctx: ctx, req: req, msgs: make(chan *revocationv1.WatchResponse, 16), end: make(chan error, 1)}
	w.streams <- s
	return s, nil
}

func (w *fakeWatcher) watchCalls() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.reqs)
}

// next is the next stream the follower opened.
func (w *fakeWatcher) next(t *testing.T) *fakeStream {
	t.Helper()
	select {
	case s := <-w.streams:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the follower opened no stream")
		return nil
	}
}

type fakeStream struct {
	ctx  context.Context
	req  *revocationv1.WatchRequest
	msgs chan *revocationv1.WatchResponse
	end  chan error
}

func (s *fakeStream) Recv() (*revocationv1.WatchResponse, error) {
	select {
	case m := <-s.msgs:
		return m, nil
	case err := <-s.end:
		return nil, err
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	}
}

func (s *fakeStream) opened(logID string) {
	s.msgs <- &revocationv1.WatchResponse{LogId: logID, HeadSeq: s.req.GetSinceSeq(), Message: &revocationv1.WatchResponse_Opened{Opened: &revocationv1.WatchOpened{}}}
}

func (s *fakeStream) entry(logID string, e *revocationv1.Entry, head int64) {
	s.msgs <- &revocationv1.WatchResponse{LogId: logID, HeadSeq: head, Message: &revocationv1.WatchResponse_Entry{Entry: e}}
}

func (s *fakeStream) heartbeat(logID string, head int64) {
	s.msgs <- &revocationv1.WatchResponse{LogId: logID, HeadSeq: head, Message: &revocationv1.WatchResponse_Heartbeat{Heartbeat: &revocationv1.WatchHeartbeat{}}}
}

func TestFollowerWatch(t *testing.T) {
	src := newFakeWatcher("log-1")
	src.add("a")
	src.add("b")
	var keys []*eventsv1.KeyRotated
	var mu sync.Mutex
	f := NewFollower(src, nil, append(quiet(), WithOnKeyEvent(func(ev *eventsv1.KeyRotated) {
		mu.Lock()
		keys = append(keys, ev)
		mu.Unlock()
	}))...)
	startReady(t, f)

	s := src.next(t)
	if s.req.GetSinceSeq() != 2 || s.req.GetLogId() != "log-1" {
		t.Fatalf("Watch(%v), want since 2 of log-1", s.req)
	}
	s.opened("log-1")
	eventually(t, "streaming", func() bool { return f.Stats().Watching })
	// Entry 3 was committed, 4 and 5 expired and were deleted before the
	// server read them: head_seq says the stream is complete up to 5.
	c := src.add("c")
	s.entry("log-1", c, 5)
	eventually(t, "c revoked", func() bool { return revoked(t, f, "c") })
	if st := f.Stats(); st.AppliedSeq != 5 {
		t.Fatalf("applied = %d, want 5", st.AppliedSeq)
	}
	s.msgs <- &revocationv1.WatchResponse{LogId: "log-1", HeadSeq: 5, Message: &revocationv1.WatchResponse_KeyRotated{KeyRotated: &eventsv1.KeyRotated{Kid: "k1"}}}
	s.heartbeat("log-1", 7)
	eventually(t, "applied 7", func() bool { return f.Stats().AppliedSeq == 7 })

	// A broken stream resumes from the applied seq.
	s.end <- status.Error(codes.Unavailable, "server shutting down")
	s = src.next(t)
	if s.req.GetSinceSeq() != 7 || s.req.GetLogId() != "log-1" {
		t.Fatalf("Watch(%v), want since 7 of log-1", s.req)
	}
	s.opened("log-1")
	eventually(t, "streaming", func() bool { return f.Stats().Watching })
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 3 || keys[0] != nil || keys[1].GetKid() != "k1" || keys[2] != nil {
		t.Fatalf("key events = %v, want nil (connected), k1, nil (reconnected)", keys)
	}
	if st := f.Stats(); st.Resyncs != 1 {
		t.Fatalf("re-syncs = %d, want the snapshot only", st.Resyncs)
	}
}

// A stream of another list than the one held: the follower re-syncs,
// which loads the new list, and streams it.
func TestFollowerWatchLogReplaced(t *testing.T) {
	src := newFakeWatcher("log-1")
	src.add("a")
	f := NewFollower(src, nil, quiet()...)
	startReady(t, f)
	s := src.next(t)

	src.replace("log-2")
	src.add("x")
	src.add("y")
	s.opened("log-2")
	s = src.next(t)
	if s.req.GetSinceSeq() != 2 || s.req.GetLogId() != "log-2" {
		t.Fatalf("Watch(%v), want since 2 of log-2", s.req)
	}
	if !revoked(t, f, "y") || revoked(t, f, "a") {
		t.Fatal("the list is not the replaced one")
	}
	s.opened("log-2")
	// A message of the old list, on a stream still open, is not applied.
	s.entry("log-1", &revocationv1.Entry{Seq: 3, Kind: kAccessToken, Id: "old"}, 3)
	src.next(t) // the follower reconnects at once
	if revoked(t, f, "old") {
		t.Fatal("an entry of the old list was applied")
	}
}

// Heartbeats count as contact: with List failing, the list stays fresh
// while they come, and turns stale after they stop.
func TestFollowerWatchKeepsTheListFresh(t *testing.T) {
	src := newFakeWatcher("log-1")
	const maxStale = 300 * time.Millisecond
	f := NewFollower(src, nil, append(quiet(), WithMaxStaleness(maxStale))...)
	startReady(t, f)
	src.fail(errDown)
	s := src.next(t)
	s.opened("log-1")
	for range 12 {
		s.heartbeat("log-1", 0)
		time.Sleep(maxStale / 6)
	}
	if f.Stats().Stale {
		t.Fatal("stale while heartbeats come")
	}
	eventually(t, "stale", func() bool { return f.Stats().Stale })
}

// With NATS the follower does not stream; key events come from NATS, and
// the hook runs for each.
func TestFollowerWithNATSDoesNotWatch(t *testing.T) {
	b := newBus(t)
	src := newFakeWatcher("log-1")
	keys := make(chan *eventsv1.KeyRotated, 4)
	f := NewFollower(src, b.sub, append(quiet(), WithOnKeyEvent(func(ev *eventsv1.KeyRotated) { keys <- ev }))...)
	startReady(t, f)
	if err := b.pub.Publish(authn.KeysSubject, mustMarshal(t, &eventsv1.KeyRotated{Kid: "k7"})); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-keys:
		if ev.GetKid() != "k7" {
			t.Fatalf("key event = %v, want k7", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no key event")
	}
	if n := src.watchCalls(); n != 0 {
		t.Fatalf("Watch called %d times with NATS", n)
	}
}

func TestFollowerWithWatchNil(t *testing.T) {
	src := newFakeWatcher("log-1")
	f := NewFollower(src, nil, append(quiet(), WithWatch(nil))...)
	startReady(t, f)
	// A stream would open right after the snapshot.
	time.Sleep(50 * time.Millisecond)
	if n := src.watchCalls(); n != 0 {
		t.Fatalf("Watch called %d times with WithWatch(nil)", n)
	}
}

// A server without Watch: the follower keeps its re-sync and retries
// much later, without hammering the server.
func TestFollowerWatchUnimplemented(t *testing.T) {
	src := newFakeWatcher("log-1")
	f := NewFollower(src, nil, quiet()...)
	startReady(t, f)
	src.next(t).end <- status.Error(codes.Unimplemented, "unknown method Watch")
	time.Sleep(100 * time.Millisecond)
	if n := src.watchCalls(); n != 1 {
		t.Fatalf("Watch called %d times, want 1 before the long retry", n)
	}
	if f.Stats().Watching {
		t.Fatal("watching without a stream")
	}
}
