package revlist

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/internal/natsfake"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestFollowerSnapshot(t *testing.T) {
	src := newFakeSource("log-a")
	src.add("t1")
	src.add("t2")
	src.addEntry(&revocationv1.Entry{Kind: kClient, Id: "client-1", RevokeTime: timestamppb.Now()})
	logs := &logBuffer{}
	f := NewFollower(src, nil, WithResyncInterval(time.Hour), WithLogger(logs.logger()))
	if f.Ready() {
		t.Fatal("ready before Start")
	}
	startReady(t, f)

	if !f.Ready() {
		t.Error("not ready after WaitReady")
	}
	for id, want := range map[string]bool{"t1": true, "t2": true, "t3": false} {
		if got := revoked(t, f, id); got != want {
			t.Errorf("%s revoked = %v, want %v", id, got, want)
		}
	}
	p := &authn.Principal{ClientID: "client-1", IssuedAt: time.Now().Add(-time.Minute)}
	if r, err := f.CheckPrincipal(context.Background(), p); err != nil || !r {
		t.Errorf("client cut-off: CheckPrincipal = %v, %v; want true, nil", r, err)
	}
	if !f.Revoked(&authn.Claims{JTI: "t1"}) || f.Revoked(&authn.Claims{JTI: "t3"}) {
		t.Error("Revoked(claims) disagrees with the list")
	}

	s := f.Stats()
	if s.LastContact.IsZero() || time.Since(s.LastContact) > time.Minute {
		t.Errorf("LastContact = %v, want about now", s.LastContact)
	}
	s.LastContact = time.Time{}
	want := Stats{LogID: "log-a", AppliedSeq: 3, HeadSeq: 3, Entries: 3, Resyncs: 1, Ready: true}
	if s != want {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
	if !slices.Contains(logs.messages(), "revlist: first snapshot loaded") {
		t.Errorf("logs %q lack the first snapshot", logs.messages())
	}
}

// ev is an event a test publishes: seq and id of an access-token
// revocation, in list log ("log-a" when empty). inSource also records it
// in the source, under the same seq.
type ev struct {
	seq      int64
	id       string
	log      string
	inSource bool
}

func TestFollowerEvents(t *testing.T) {
	tests := []struct {
		name string
		// The source holds t1, t2 (seq 1, 2) when the follower starts;
		// unpublished are added to it afterwards without an event.
		unpublished []string
		publish     []ev
		revoked     []string
		notRevoked  []string
		applied     int64
		gaps        uint64
		resync      bool // a re-sync beyond the first is expected
	}{
		{
			name:    "in order",
			publish: []ev{{seq: 3, id: "t3", inSource: true}, {seq: 4, id: "t4", inSource: true}},
			revoked: []string{"t3", "t4"}, applied: 4,
		},
		{
			name:    "duplicate ignored",
			publish: []ev{{seq: 2, id: "dup"}, {seq: 3, id: "t3", inSource: true}},
			revoked: []string{"t3"}, notRevoked: []string{"dup"}, applied: 3,
		},
		{
			name:        "gap re-syncs the missing entries",
			unpublished: []string{"t3", "t4"},
			publish:     []ev{{seq: 5, id: "t5", inSource: true}},
			revoked:     []string{"t3", "t4", "t5"}, applied: 5, gaps: 1, resync: true,
		},
		{
			name:    "event of another log ignored",
			publish: []ev{{seq: 3, id: "foreign", log: "log-b"}, {seq: 3, id: "t3", inSource: true}},
			revoked: []string{"t3"}, notRevoked: []string{"foreign"}, applied: 3,
		},
		{
			name:    "another log does not advance the sequence",
			publish: []ev{{seq: 3, id: "foreign", log: "log-b"}, {seq: 4, id: "foreign4", log: "log-b"}, {seq: 3, id: "t3", inSource: true}},
			revoked: []string{"t3"}, notRevoked: []string{"foreign", "foreign4"}, applied: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFakeSource("log-a")
			src.add("t1")
			src.add("t2")
			b := newBus(t)
			f := NewFollower(src, b.sub, quiet()...)
			startReady(t, f)

			for _, id := range tt.unpublished {
				src.add(id)
			}
			for _, e := range tt.publish {
				entry := &revocationv1.Entry{
					Seq: e.seq, Kind: kAccessToken, Id: e.id,
					ExpireTime: timestamppb.New(time.Now().Add(time.Hour)),
				}
				if e.inSource {
					if got := src.addEntry(entry).GetSeq(); got != e.seq {
						t.Fatalf("test case: source gave %s seq %d, not %d", e.id, got, e.seq)
					}
				}
				log := e.log
				if log == "" {
					log = "log-a"
				}
				b.publish(t, entry, log)
			}

			eventually(t, "the events", func() bool {
				for _, id := range tt.revoked {
					if !revoked(t, f, id) {
						return false
					}
				}
				return f.Stats().AppliedSeq == tt.applied
			})
			for _, id := range tt.notRevoked {
				if revoked(t, f, id) {
					t.Errorf("%s revoked", id)
				}
			}
			s := f.Stats()
			if s.Gaps != tt.gaps {
				t.Errorf("Gaps = %d, want %d", s.Gaps, tt.gaps)
			}
			if calls := len(src.sinces()); (calls > 1) != tt.resync {
				t.Errorf("%d List calls (since %v); re-sync expected: %v", calls, src.sinces(), tt.resync)
			}
			if s.LogID != "log-a" {
				t.Errorf("LogID = %q, want log-a", s.LogID)
			}
		})
	}
}

func TestFollowerUndecodableEventResyncs(t *testing.T) {
	src := newFakeSource("log-a")
	src.add("t1")
	b := newBus(t)
	f := NewFollower(src, b.sub, quiet()...)
	startReady(t, f)
	src.add("t2")
	b.publishRaw(t, []byte{0xff, 0xff, 0xff})
	eventually(t, "the re-sync", func() bool { return revoked(t, f, "t2") })
}

// TestFollowerUnknownKindEvent checks that an event of a kind this
// version does not know consumes its sequence number: the next event is
// applied, not taken for a gap.
func TestFollowerUnknownKindEvent(t *testing.T) {
	src := newFakeSource("log-a")
	src.add("t1")
	b := newBus(t)
	f := NewFollower(src, b.sub, quiet()...)
	startReady(t, f)
	src.addEntry(&revocationv1.Entry{Kind: kAccessToken, Id: "placeholder"}) // seq 2 in the source
	b.publishRaw(t, mustMarshal(t, &eventsv1.Revoked{Seq: 2, Kind: "future_kind", Id: "x", LogId: "log-a"}))
	b.publish(t, src.add("t3"), "log-a")
	eventually(t, "t3", func() bool { return revoked(t, f, "t3") })
	if s := f.Stats(); s.Gaps != 0 || s.AppliedSeq != 3 || len(src.sinces()) != 1 {
		t.Errorf("Stats = %+v after %d List calls, want applied 3 by events alone", s, len(src.sinces()))
	}
}

// TestFollowerEventDuringFirstSnapshot publishes an event while the first
// List is on its way back, after the head was read: whichever way the
// race goes, the entry is applied without a periodic tick.
func TestFollowerEventDuringFirstSnapshot(t *testing.T) {
	src := newFakeSource("log-a")
	src.add("t1")
	b := newBus(t)
	var once sync.Once
	src.beforeReply = func(*revocationv1.ListRequest) {
		once.Do(func() {
			// On the sync loop's goroutine: report, do not t.Fatal.
			data, err := proto.Marshal(EventOf(src.add("t2"), "log-a"))
			if err == nil {
				err = b.pub.Publish(Subject, data)
			}
			if err != nil {
				t.Error(err)
			}
			time.Sleep(20 * time.Millisecond) // let it arrive before the answer
		})
	}
	f := NewFollower(src, b.sub, quiet()...)
	startReady(t, f)
	eventually(t, "t2", func() bool { return revoked(t, f, "t2") && f.Stats().AppliedSeq == 2 })
}

func TestFollowerListHoles(t *testing.T) {
	src := newFakeSource("log-a")
	for i := 1; i <= 6; i++ {
		src.add(fmt.Sprint("t", i))
	}
	// Expired entries are deleted by the service, the last ones included:
	// List answers are not contiguous, and end before the head.
	for _, seq := range []int64{2, 5, 6} {
		src.drop(seq)
	}
	b := newBus(t)
	f := NewFollower(src, b.sub, quiet()...)
	startReady(t, f)

	if s := f.Stats(); s.AppliedSeq != 6 || s.HeadSeq != 6 || s.Entries != 3 {
		t.Errorf("Stats = %+v, want applied 6, head 6, 3 entries", s)
	}
	// The next event follows the head, not the last entry listed.
	b.publish(t, src.add("t7"), "log-a")
	eventually(t, "t7", func() bool { return revoked(t, f, "t7") })
	if s := f.Stats(); s.AppliedSeq != 7 || s.Gaps != 0 {
		t.Errorf("Stats = %+v, want applied 7 without gap", s)
	}
	if calls := src.sinces(); len(calls) != 1 {
		t.Errorf("List calls since %v, want one", calls)
	}
}

func TestFollowerPaging(t *testing.T) {
	tests := []struct {
		name       string
		entries    int
		pageSize   int32
		wantSinces []int64
	}{
		{"one short page", 3, 5, []int64{0}},
		{"several pages", 5, 2, []int64{0, 2, 4}},
		{"last page full", 4, 2, []int64{0, 2, 4}},
		{"empty list", 0, 2, []int64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFakeSource("log-a")
			for i := range tt.entries {
				src.add(fmt.Sprint("t", i+1))
			}
			f := NewFollower(src, nil, append(quiet(), WithPageSize(tt.pageSize))...)
			startReady(t, f)
			if got := src.sinces(); !slices.Equal(got, tt.wantSinces) {
				t.Errorf("List calls since %v, want %v", got, tt.wantSinces)
			}
			if s := f.Stats(); s.AppliedSeq != int64(tt.entries) || s.Entries != tt.entries {
				t.Errorf("Stats = %+v, want %d applied and held", s, tt.entries)
			}
		})
	}
}

func TestFollowerLogIDChange(t *testing.T) {
	src := newFakeSource("log-a")
	src.add("a1")
	src.add("a2")
	b := newBus(t)
	logs := &logBuffer{}
	f := NewFollower(src, b.sub, WithResyncInterval(time.Hour), WithLogger(logs.logger()))
	startReady(t, f)

	src.replace("log-b")
	src.add("b1")
	// While the new list loads, checks answer from the old one, not
	// from a half-loaded list.
	var during bool
	src.beforeReply = func(req *revocationv1.ListRequest) {
		if req.GetSinceSeq() == 0 {
			during = revoked(t, f, "a1")
		}
	}
	if err := f.Resync(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.beforeReply = nil
	if !during {
		t.Error("during the reload, the old list did not answer")
	}
	for id, want := range map[string]bool{"a1": false, "a2": false, "b1": true} {
		if got := revoked(t, f, id); got != want {
			t.Errorf("%s revoked = %v, want %v", id, got, want)
		}
	}
	if s := f.Stats(); s.LogID != "log-b" || s.AppliedSeq != 1 || s.Entries != 1 {
		t.Errorf("Stats = %+v, want log-b, applied 1, 1 entry", s)
	}
	// The old page, read after seq 2 of log-a, is thrown away and the
	// new list read from its start.
	if got, want := src.sinces(), []int64{0, 2, 0}; !slices.Equal(got, want) {
		t.Errorf("List calls since %v, want %v", got, want)
	}
	if !slices.Contains(logs.messages(), "revlist: the revocation list was replaced (log_id changed); reloading it") {
		t.Errorf("logs %q lack the log_id change", logs.messages())
	}

	// Events of the old list are now ignored; the new list's are applied.
	b.publish(t, &revocationv1.Entry{Seq: 3, Kind: kAccessToken, Id: "a3"}, "log-a")
	b.publish(t, src.add("b2"), "log-b")
	eventually(t, "b2", func() bool { return revoked(t, f, "b2") })
	if revoked(t, f, "a3") {
		t.Error("event of the old list applied")
	}
}

func TestFollowerNotReady(t *testing.T) {
	src := newFakeSource("log-a")
	src.add("t1")
	src.fail(errDown)
	const wait = 100 * time.Millisecond
	f := NewFollower(src, nil, append(quiet(), WithStartWait(wait))...)
	start(t, f)

	began := time.Now()
	r, err := f.CheckPrincipal(context.Background(), &authn.Principal{TokenID: "other"})
	if !errors.Is(err, ErrNotReady) || r {
		t.Fatalf("CheckPrincipal = %v, %v; want false, ErrNotReady", r, err)
	}
	if d := time.Since(began); d < wait/2 {
		t.Errorf("failed after %v, before the start wait", d)
	}
	// Past the start wait, checks fail at once.
	began = time.Now()
	if _, err := f.CheckPrincipal(context.Background(), &authn.Principal{TokenID: "other"}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("second CheckPrincipal: %v, want ErrNotReady", err)
	}
	if d := time.Since(began); d > wait/2 {
		t.Errorf("second check waited %v", d)
	}
	if !f.Revoked(&authn.Claims{JTI: "other"}) {
		t.Error("Revoked(claims) = false before the first snapshot, want true (fail closed)")
	}
	if s := f.Stats(); s.Ready || s.Stale {
		t.Errorf("Stats = %+v, want not ready, not stale", s)
	}

	// The loop retries with backoff until the source answers.
	src.fail(nil)
	eventually(t, "readiness", f.Ready)
	if !revoked(t, f, "t1") || revoked(t, f, "other") {
		t.Error("wrong answers after the first snapshot")
	}
	if calls := len(src.sinces()); calls < 2 {
		t.Errorf("%d List calls, want retries", calls)
	}
}

func TestFollowerNotReadyContext(t *testing.T) {
	src := newFakeSource("log-a")
	src.fail(errDown)
	f := NewFollower(src, nil, append(quiet(), WithStartWait(time.Hour))...)
	start(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := f.CheckPrincipal(ctx, &authn.Principal{TokenID: "x"})
	if !errors.Is(err, ErrNotReady) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CheckPrincipal = %v, want ErrNotReady and the context's error", err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer wcancel()
	if err := f.WaitReady(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitReady = %v, want DeadlineExceeded", err)
	}
}

func TestFollowerStale(t *testing.T) {
	tests := []struct {
		name     string
		natsUp   bool
		failOpen bool
		wantErr  error
	}{
		{name: "source and NATS down: fail closed", wantErr: ErrStale},
		{name: "source and NATS down: fail open", failOpen: true},
		{name: "NATS up keeps the list fresh", natsUp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFakeSource("log-a")
			src.add("t1")
			b := newBus(t)
			clock := newFakeClock(time.Now())
			logs := &logBuffer{}
			opts := []Option{
				WithResyncInterval(time.Hour), WithMaxStaleness(time.Minute),
				WithClock(clock.Now), WithLogger(logs.logger()),
			}
			if tt.failOpen {
				opts = append(opts, WithFailOpen())
			}
			f := NewFollower(src, b.sub, opts...)
			f.healthEvery = 5 * time.Millisecond
			startReady(t, f)

			src.fail(errDown)
			if !tt.natsUp {
				b.srv.Close()
				eventually(t, "the disconnect", func() bool { return !b.sub.IsConnected() })
			}
			clock.Advance(2 * time.Minute)

			check := func(jti string) (bool, error) {
				return f.CheckPrincipal(context.Background(), &authn.Principal{TokenID: jti})
			}
			if tt.natsUp {
				// The health tick sees the connection and records contact.
				eventually(t, "freshness", func() bool { _, err := check("t1"); return err == nil })
			}
			for jti, want := range map[string]bool{"t1": true, "other": false} {
				r, err := check(jti)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("CheckPrincipal(%s) error = %v, want %v", jti, err, tt.wantErr)
				}
				if err == nil && r != want {
					t.Errorf("CheckPrincipal(%s) = %v, want %v", jti, r, want)
				}
			}
			wantRevoked := tt.wantErr != nil // fail closed answers true
			if got := f.Revoked(&authn.Claims{JTI: "other"}); got != wantRevoked {
				t.Errorf("Revoked(other) = %v, want %v", got, wantRevoked)
			}
			stale := !tt.natsUp
			if s := f.Stats(); s.Stale != stale || !s.Ready {
				t.Errorf("Stats = %+v, want ready, stale %v", s, stale)
			}
			if stale {
				eventually(t, "the stale log", func() bool {
					return slices.ContainsFunc(logs.messages(), func(m string) bool {
						return m == "revlist: revocation list stale: no contact with the revocation service or NATS"
					})
				})
			}

			// A successful List makes the list fresh again.
			src.fail(nil)
			if err := f.Resync(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := check("t1"); err != nil {
				t.Errorf("after a re-sync: %v", err)
			}
			if f.Stats().Stale {
				t.Error("still stale after a re-sync")
			}
		})
	}
}

func TestFollowerPeriodicResync(t *testing.T) {
	src := newFakeSource("log-a")
	src.add("t1")
	f := NewFollower(src, nil, WithResyncInterval(20*time.Millisecond), WithLogger(discardLogger()))
	startReady(t, f)
	src.add("never-published")
	eventually(t, "the tick", func() bool { return revoked(t, f, "never-published") })
	if s := f.Stats(); s.Resyncs < 2 || s.AppliedSeq != 2 {
		t.Errorf("Stats = %+v, want 2 applied after 2 re-syncs or more", s)
	}
}

func TestFollowerResyncFailureBackoff(t *testing.T) {
	src := newFakeSource("log-a")
	logs := &logBuffer{}
	f := NewFollower(src, nil, WithResyncInterval(20*time.Millisecond), WithLogger(logs.logger()))
	startReady(t, f)
	src.fail(errDown)
	eventually(t, "failed re-syncs", func() bool { return len(src.sinces()) >= 4 })
	src.fail(nil)
	src.add("t1")
	eventually(t, "recovery", func() bool { return revoked(t, f, "t1") })
	eventually(t, "the recovery log", func() bool {
		return slices.Contains(logs.messages(), "revlist: re-sync recovered")
	})
	failed := 0
	for _, m := range logs.messages() {
		if m == "revlist: re-sync failed; retrying with backoff" {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("logged %d failures, want 1 (state changes only)", failed)
	}
}

// TestFollowerReconnect restarts the NATS server on the same address: an
// entry revoked while it was down (its event lost) is picked up by the
// re-sync the reconnect triggers, not by a tick, and events flow again on
// the resubscribed subject.
func TestFollowerReconnect(t *testing.T) {
	src := newFakeSource("log-a")
	src.add("t1")
	b := newBus(t)
	f := NewFollower(src, b.sub, quiet()...)
	startReady(t, f)

	addr := b.srv.Addr()
	b.srv.Close()
	eventually(t, "the disconnect", func() bool { return !b.sub.IsConnected() })
	src.add("lost") // its event went nowhere
	if revoked(t, f, "lost") {
		t.Fatal("revoked before the reconnect")
	}
	natsfake.StartAt(t, addr)

	eventually(t, "the reconnect re-sync", func() bool { return revoked(t, f, "lost") })
	if calls := len(src.sinces()); calls < 2 {
		t.Errorf("%d List calls, want a re-sync", calls)
	}
	eventually(t, "the publisher's reconnect", b.pub.IsConnected)
	if err := b.sub.Flush(); err != nil { // the subscription is back
		t.Fatal(err)
	}
	b.publish(t, src.add("after"), "log-a")
	eventually(t, "an event after the reconnect", func() bool { return revoked(t, f, "after") })
}

func TestFollowerOnApply(t *testing.T) {
	src := newFakeSource("log-a")
	src.add("t1")
	src.add("t2")
	b := newBus(t)
	var (
		mu      sync.Mutex
		seqs    []int64
		batches [][]int64
		order   []string
	)
	var f *Follower
	f = NewFollower(src, b.sub, append(quiet(), WithOnApply(func(e *revocationv1.Entry) {
		f.Stats() // takes the follower's lock: the hook runs outside it
		mu.Lock()
		defer mu.Unlock()
		seqs = append(seqs, e.GetSeq())
		order = append(order, "entry")
	}), WithOnApplyBatch(func(es []*revocationv1.Entry) {
		f.Stats()
		mu.Lock()
		defer mu.Unlock()
		var batch []int64
		for _, e := range es {
			batch = append(batch, e.GetSeq())
		}
		batches = append(batches, batch)
		order = append(order, "batch")
	}))...)
	startReady(t, f)

	b.publish(t, src.add("t3"), "log-a") // by event
	src.add("t4")
	b.publish(t, src.add("t5"), "log-a") // a gap: t4 and t5 by re-sync
	got := func() []int64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seqs)
	}
	eventually(t, "five entries", func() bool { return len(got()) == 5 })
	if want := []int64{1, 2, 3, 4, 5}; !slices.Equal(got(), want) {
		t.Errorf("OnApply saw seqs %v, want %v", got(), want)
	}
	eventually(t, "three batches", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(batches) == 3
	})
	mu.Lock()
	defer mu.Unlock()
	// The snapshot's page at once, the event alone, the re-sync's page.
	if want := [][]int64{{1, 2}, {3}, {4, 5}}; !slices.EqualFunc(batches, want, slices.Equal[[]int64]) {
		t.Errorf("OnApplyBatch saw %v, want %v", batches, want)
	}
	if want := []string{"entry", "entry", "batch", "entry", "batch", "entry", "entry", "batch"}; !slices.Equal(order, want) {
		t.Errorf("hooks ran in the order %v, want %v (in the order given)", order, want)
	}
}

func TestFollowerLifecycle(t *testing.T) {
	b := newBus(t)
	src := newFakeSource("log-a")
	before := runtime.NumGoroutine()
	f := NewFollower(src, b.sub, quiet()...)
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	f.Close()
	f.Close()
	if err := f.Start(context.Background()); err == nil {
		t.Error("Start after Close succeeded")
	}
	eventually(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= before })

	// Close before Start, and a follower stopped by its context.
	NewFollower(src, nil).Close()
	ctx2, cancel2 := context.WithCancel(context.Background())
	g := NewFollower(src, nil, quiet()...)
	if err := g.Start(ctx2); err != nil {
		t.Fatal(err)
	}
	cancel2()
	g.Close()
}

func TestFollowerStartClosedConnection(t *testing.T) {
	b := newBus(t)
	b.sub.Close()
	f := NewFollower(newFakeSource("log-a"), b.sub, quiet()...)
	if err := f.Start(context.Background()); err == nil {
		f.Close()
		t.Fatal("Start with a closed connection succeeded")
	}
	f.Close()
}

func TestClientSource(t *testing.T) {
	c := &fakeClient{resp: &revocationv1.ListResponse{HeadSeq: 7, LogId: "log-a"}}
	src := ClientSource(c, nil, nil)
	resp, err := src.List(context.Background(), &revocationv1.ListRequest{SinceSeq: 3, PageSize: 10})
	if err != nil || resp.GetHeadSeq() != 7 {
		t.Fatalf("List = %v, %v", resp, err)
	}
	if c.req.GetSinceSeq() != 3 || c.req.GetPageSize() != 10 || c.opts != 2 {
		t.Errorf("client saw %v with %d options, want since 3, size 10, 2 options", c.req, c.opts)
	}
}

// fakeClient is a RevocationServiceClient answering List; its other
// methods are not implemented.
type fakeClient struct {
	revocationv1.RevocationServiceClient
	resp *revocationv1.ListResponse
	req  *revocationv1.ListRequest
	opts int
}

func (c *fakeClient) List(_ context.Context, in *revocationv1.ListRequest, opts ...grpc.CallOption) (*revocationv1.ListResponse, error) {
	c.req, c.opts = in, len(opts)
	return c.resp, nil
}
