package revocation_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
)

// freePort picks a loopback port that is free now, so that the server can
// be restarted on it.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// startNATS runs a JetStream server on 127.0.0.1:port with its store in
// dir; the same port and dir give the same server back after a restart.
func startNATS(t testing.TB, port int, dir string) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		ServerName: "revocation-test",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		t.Fatal("nats server not ready in 10s")
	}
	t.Cleanup(func() { stopNATS(srv) })
	return srv
}

func stopNATS(srv *server.Server) {
	srv.Shutdown()
	srv.WaitForShutdown()
}

func connect(t testing.TB, url, name string) *nats.Conn {
	t.Helper()
	// The connections' handlers log after the test may have ended.
	nc, err := events.Connect(url, name, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func decode(t *testing.T, data []byte) *eventsv1.Revoked {
	t.Helper()
	var ev eventsv1.Revoked
	if err := proto.Unmarshal(data, &ev); err != nil {
		t.Fatalf("decode Revoked: %v", err)
	}
	return &ev
}

// waitFor polls cond every 10 ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOutboxPublishesAcrossANATSRestart(t *testing.T) {
	port, dir := freePort(t), t.TempDir()
	srv := startNATS(t, port, dir)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	subNC := connect(t, url, "revocation-test-subscriber")
	live := make(chan *nats.Msg, 64)
	sub, err := subNC.ChanSubscribe(revlist.Subject, live)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := subNC.Flush(); err != nil {
		t.Fatal(err)
	}

	// The outbox interval is far beyond the test: after the restart,
	// only the reconnect can set the outbox off.
	nc := connect(t, url, "revocation-test-service")
	f := newFixture(t, revocation.WithNATS(nc), revocation.WithOutboxInterval(time.Hour))
	logID := f.svc.LogID()

	// Connected: the fast path publishes at once and marks the entry.
	first := f.revoke(revocationv1.Kind_KIND_API_KEY, "key-0", time.Time{})
	select {
	case m := <-live:
		ev := decode(t, m.Data)
		want := revlist.EventOf(first, logID)
		if !proto.Equal(ev, want) {
			t.Errorf("event = %v, want %v", ev, want)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); id != logID+":1" {
			t.Errorf("message id = %q, want %q", id, logID+":1")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event for the first Revoke in 5s")
	}
	assertUnpublished(t, f, 0)

	// The server goes away: Revoke still commits, quickly, and the
	// entries wait in the outbox.
	stopNATS(srv)
	waitFor(t, 5*time.Second, "client notices the disconnect", func() bool { return !nc.IsConnected() })
	for i := 1; i <= 5; i++ {
		start := time.Now()
		_, err := f.svc.Revoke(f.ctx, &revocationv1.RevokeRequest{Kind: revocationv1.Kind_KIND_ACCESS_TOKEN, Id: fmt.Sprintf("jti-%d", i), Reason: "nats down"})
		if err != nil {
			t.Fatalf("Revoke %d with NATS down: %v", i, err)
		}
		if d := time.Since(start); d >= 2*time.Second {
			t.Errorf("Revoke %d with NATS down took %v, want < 2s", i, d)
		}
	}
	assertUnpublished(t, f, 5)

	// Back on the same port and store: the reconnect drains the outbox.
	startNATS(t, port, dir)
	waitFor(t, 10*time.Second, "outbox drained", func() bool {
		es, err := f.store.Unpublished(f.ctx, 10)
		return err == nil && len(es) == 0
	})

	// Every event reaches a subscriber: an ordered consumer on the
	// subscriber's connection replays the stream. (A core subscription
	// alone would race the publisher's reconnect against its own.)
	js, err := jetstream.New(subNC)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, revocation.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{revlist.Subject}})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for len(seqs) < 6 {
		m, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("after %v: %v", seqs, err)
		}
		ev := decode(t, m.Data())
		if ev.GetLogId() != logID {
			t.Errorf("event %d has log_id %q, want %q", ev.GetSeq(), ev.GetLogId(), logID)
		}
		if ev.GetSeq() > 1 && (ev.GetKind() != "access_token" || ev.GetId() != fmt.Sprintf("jti-%d", ev.GetSeq()-1) || ev.GetReason() != "nats down") {
			t.Errorf("event %v does not match its entry", ev)
		}
		seqs = append(seqs, ev.GetSeq())
	}
	if got := fmt.Sprint(seqs); got != "[1 2 3 4 5 6]" {
		t.Errorf("stream events in order %s, want [1 2 3 4 5 6]", got)
	}

	// Deduplicated: whatever was retried, the stream holds each once.
	stream, err := js.Stream(ctx, revocation.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 6 {
		t.Errorf("stream holds %d messages, want 6", info.State.Msgs)
	}
	cfg := info.Config
	if len(cfg.Subjects) != 1 || cfg.Subjects[0] != revlist.Subject || cfg.Storage != jetstream.FileStorage ||
		cfg.MaxAge != 24*time.Hour || cfg.Duplicates != 2*time.Minute {
		t.Errorf("stream config = subjects %v storage %v max age %v duplicates %v", cfg.Subjects, cfg.Storage, cfg.MaxAge, cfg.Duplicates)
	}
}

func TestStartWithNATSDownCreatesTheStreamLater(t *testing.T) {
	port, dir := freePort(t), t.TempDir()
	srv := startNATS(t, port, dir)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	nc := connect(t, url, "revocation-test-service")
	stopNATS(srv)
	waitFor(t, 5*time.Second, "client notices the disconnect", func() bool { return !nc.IsConnected() })

	// Start does not wait for NATS: the list is the source of truth.
	f := newFixture(t, revocation.WithNATS(nc), revocation.WithOutboxInterval(time.Hour))
	f.revoke(revocationv1.Kind_KIND_SUBJECT, "user-1", time.Time{})
	f.revoke(revocationv1.Kind_KIND_REFRESH_FAMILY, "family-1", t0.Add(time.Hour))

	startNATS(t, port, dir)
	waitFor(t, 10*time.Second, "outbox drained", func() bool {
		es, err := f.store.Unpublished(f.ctx, 10)
		return err == nil && len(es) == 0
	})
	assertStreamHolds(t, connect(t, url, "reader"), 2)
}

func TestStreamIsRecreatedWhenNATSLosesIt(t *testing.T) {
	port := freePort(t)
	srv := startNATS(t, port, t.TempDir())
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	nc := connect(t, url, "revocation-test-service")
	f := newFixture(t, revocation.WithNATS(nc), revocation.WithOutboxInterval(20*time.Millisecond))
	f.revoke(revocationv1.Kind_KIND_API_KEY, "key-1", time.Time{})
	assertUnpublished(t, f, 0)

	// A new server with an empty store: the stream is gone, and the
	// client only learns it when a publish finds no stream.
	stopNATS(srv)
	startNATS(t, port, t.TempDir())
	waitFor(t, 10*time.Second, "client reconnects", nc.IsConnected)

	start := time.Now()
	f.revoke(revocationv1.Kind_KIND_API_KEY, "key-2", time.Time{})
	if d := time.Since(start); d >= 2*time.Second {
		t.Errorf("Revoke with the stream gone took %v, want < 2s", d)
	}
	waitFor(t, 10*time.Second, "outbox drained", func() bool {
		es, err := f.store.Unpublished(f.ctx, 10)
		return err == nil && len(es) == 0
	})
	assertStreamHolds(t, connect(t, url, "reader"), 1)
}

func assertStreamHolds(t *testing.T, nc *nats.Conn, want uint64) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(t.Context(), revocation.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != want {
		t.Errorf("stream holds %d messages, want %d", info.State.Msgs, want)
	}
}

func TestRepublishedEventsAreDeduplicated(t *testing.T) {
	// Two replicas over one store drain the outbox, and neither manages
	// to mark what it published (a crash between publish and mark): they
	// publish the same entries round after round, and the stream keeps
	// one message per entry.
	port, dir := freePort(t), t.TempDir()
	startNATS(t, port, dir)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	st := &unmarkedStore{Store: newStore(t)}
	// Entries written before any service runs are only in the outbox.
	for i := range 3 {
		if _, _, err := st.Revoke(t.Context(), revocation.Entry{Kind: revocationv1.Kind_KIND_CERTIFICATE, ID: fmt.Sprintf("serial-%d", i), RevokedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	a := startOn(t, st, revocation.WithNATS(connect(t, url, "replica-a")), revocation.WithOutboxInterval(10*time.Millisecond))
	startOn(t, st, revocation.WithNATS(connect(t, url, "replica-b")), revocation.WithOutboxInterval(10*time.Millisecond))
	waitFor(t, 10*time.Second, "ten rounds of publishing", func() bool { return st.marks.Load() >= 10 })

	js, err := jetstream.New(connect(t, url, "reader"))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(t.Context(), revocation.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Errorf("stream holds %d messages after %d rounds, want 3", info.State.Msgs, st.marks.Load())
	}
	m, err := stream.GetLastMsgForSubject(t.Context(), revlist.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if id := m.Header.Get(jetstream.MsgIDHeader); id != a.svc.LogID()+":3" {
		t.Errorf("last message id = %q, want %q", id, a.svc.LogID()+":3")
	}
}

// unmarkedStore forgets every MarkPublished, and counts them.
type unmarkedStore struct {
	revocation.Store
	marks atomic.Int64
}

func (s *unmarkedStore) MarkPublished(_ context.Context, seqs []int64) error {
	if len(seqs) > 0 {
		s.marks.Add(1)
	}
	return nil
}

func assertUnpublished(t *testing.T, f *fixture, want int) {
	t.Helper()
	es, err := f.store.Unpublished(f.ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != want {
		t.Errorf("%d entries in the outbox, want %d", len(es), want)
	}
}
