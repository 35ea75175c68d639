package revocation_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
	"github.com/gatehouse-dev/gatehouse/services/revocation/sqlstore"
)

// keyAuth is an API-key authenticator over a fixed table: the key is the
// client id, with the scopes listed.
type keyAuth map[string][]string

func (keyAuth) Kind() authv1.CredentialKind { return authv1.CredentialKind_CREDENTIAL_KIND_API_KEY }

func (k keyAuth) Authenticate(_ context.Context, raw string) (*authn.Principal, error) {
	scopes, ok := k[raw]
	if !ok {
		return nil, &authn.AuthError{Code: codes.Unauthenticated, Reason: "invalid_api_key", Message: "unknown key", OAuthError: authn.ErrInvalidToken}
	}
	return &authn.Principal{Subject: raw, ClientID: raw, Kind: authv1.CredentialKind_CREDENTIAL_KIND_API_KEY, Scopes: scopes, KeyID: raw}, nil
}

// testKeys are the callers of the served services.
var testKeys = keyAuth{
	"internal":  {"gatehouse:internal"},
	"validator": {"gatehouse:validator"},
	"admin":     {"gatehouse:admin"},
	"other":     {"gatehouse:internal"},
	"third":     {"gatehouse:internal"},
}

// served is a Service behind a real gRPC server on loopback, with the
// validator the contract's rules configure.
type served struct {
	srv    *grpc.Server
	conn   *grpc.ClientConn
	client revocationv1.RevocationServiceClient
}

func serve(t testing.TB, svc *revocation.Service) *served {
	t.Helper()
	rules, err := authn.RulesFromServices(revocationv1.File_gatehouse_revocation_v1_revocation_proto.Services().Get(0))
	if err != nil {
		t.Fatal(err)
	}
	v := authn.NewValidator(rules, authn.WithAuthenticator(testKeys))
	srv := grpc.NewServer(grpc.UnaryInterceptor(v.UnaryServerInterceptor()), grpc.StreamInterceptor(v.StreamServerInterceptor()))
	revocationv1.RegisterRevocationServiceServer(srv, svc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
	})
	return &served{srv: srv, conn: conn, client: revocationv1.NewRevocationServiceClient(conn)}
}

// as is a context carrying caller's API key.
func as(ctx context.Context, caller string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "ApiKey "+caller)
}

// watchStream is an open Watch stream of a test.
type watchStream struct {
	t      testing.TB
	stream grpc.ServerStreamingClient[revocationv1.WatchResponse]
	cancel context.CancelFunc
}

func (s *served) watch(t testing.TB, caller string, req *revocationv1.WatchRequest) *watchStream {
	t.Helper()
	ctx, cancel := context.WithCancel(as(context.Background(), caller))
	t.Cleanup(cancel)
	stream, err := s.client.Watch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return &watchStream{t: t, stream: stream, cancel: cancel}
}

// next receives one message, failing the test on an error or after 5 s.
func (w *watchStream) next() *revocationv1.WatchResponse {
	w.t.Helper()
	m, err := w.recv(5 * time.Second)
	if err != nil {
		w.t.Fatalf("Recv: %v", err)
	}
	return m
}

// recv receives one message or the stream's error, giving up after d.
func (w *watchStream) recv(d time.Duration) (*revocationv1.WatchResponse, error) {
	type result struct {
		m   *revocationv1.WatchResponse
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := w.stream.Recv()
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		return r.m, r.err
	case <-time.After(d):
		w.cancel()
		<-ch
		return nil, errors.New("no message in time")
	}
}

// nextNonHeartbeat skips heartbeats.
func (w *watchStream) nextNonHeartbeat() *revocationv1.WatchResponse {
	w.t.Helper()
	for range 100 {
		if m := w.next(); m.GetHeartbeat() == nil {
			return m
		}
	}
	w.t.Fatal("only heartbeats")
	return nil
}

// end receives until the stream ends and returns its status.
func (w *watchStream) end() error {
	w.t.Helper()
	for range 100_000 {
		_, err := w.recv(5 * time.Second)
		if err != nil {
			return err
		}
	}
	w.t.Fatal("the stream did not end")
	return nil
}

// opened checks the first message.
func (w *watchStream) opened(logID string, head int64) {
	w.t.Helper()
	m := w.next()
	if m.GetOpened() == nil || m.GetLogId() != logID || m.GetHeadSeq() != head {
		w.t.Fatalf("first message = %v, want opened of %s at %d", m, logID, head)
	}
}

// entry checks that m carries the entry seq with head_seq head.
func entry(t testing.TB, m *revocationv1.WatchResponse, seq, head int64) {
	t.Helper()
	if m.GetEntry().GetSeq() != seq || m.GetHeadSeq() != head {
		t.Fatalf("message = %v, want entry %d with head_seq %d", m, seq, head)
	}
}

func startService(t testing.TB, st revocation.Store, opts ...revocation.Option) *revocation.Service {
	t.Helper()
	svc := revocation.New(st, opts...)
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}

// endedStream is a stream whose client has gone.
type endedStream struct {
	grpc.ServerStreamingServer[revocationv1.WatchResponse]
}

func (endedStream) Context() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func (endedStream) Send(*revocationv1.WatchResponse) error { return io.EOF }

func revokeJTI(t testing.TB, svc *revocation.Service, jti string, expires time.Time) *revocationv1.Entry {
	t.Helper()
	resp, err := svc.Revoke(context.Background(), &revocationv1.RevokeRequest{
		Kind: revocationv1.Kind_KIND_ACCESS_TOKEN, Id: jti, Reason: "test", ExpireTime: timestamppb.New(expires),
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetEntry()
}

func TestWatchCatchUpThenLive(t *testing.T) {
	svc := startService(t, newStore(t), revocation.WithWatchHeartbeat(50*time.Millisecond))
	s := serve(t, svc)
	later := time.Now().Add(time.Hour)
	for _, jti := range []string{"a", "b", "c"} {
		revokeJTI(t, svc, jti, later)
	}
	w := s.watch(t, "internal", &revocationv1.WatchRequest{})
	w.opened(svc.LogID(), 0)
	entry(t, w.next(), 1, 1)
	entry(t, w.next(), 2, 2)
	entry(t, w.next(), 3, 3)

	// Live: an entry committed now, then heartbeats while idle.
	revokeJTI(t, svc, "d", later)
	m := w.nextNonHeartbeat()
	entry(t, m, 4, 4)
	if m.GetEntry().GetId() != "d" || m.GetLogId() != svc.LogID() {
		t.Fatalf("live entry = %v", m)
	}
	if hb := w.next(); hb.GetHeartbeat() == nil || hb.GetHeadSeq() != 4 {
		t.Fatalf("idle stream sent %v, want a heartbeat at head 4", hb)
	}
}

func TestWatchResumesAfterSinceSeq(t *testing.T) {
	svc := startService(t, newStore(t))
	s := serve(t, svc)
	later := time.Now().Add(time.Hour)
	for _, jti := range []string{"a", "b", "c", "d", "e"} {
		revokeJTI(t, svc, jti, later)
	}
	w := s.watch(t, "internal", &revocationv1.WatchRequest{SinceSeq: 3, LogId: svc.LogID()})
	w.opened(svc.LogID(), 3)
	entry(t, w.next(), 4, 4)
	entry(t, w.next(), 5, 5)

	t.Run("another log_id starts over", func(t *testing.T) {
		w := s.watch(t, "internal", &revocationv1.WatchRequest{SinceSeq: 3, LogId: strings.Repeat("f", 32)})
		w.opened(svc.LogID(), 0)
		entry(t, w.next(), 1, 1)
	})
	t.Run("a negative since_seq is refused", func(t *testing.T) {
		w := s.watch(t, "internal", &revocationv1.WatchRequest{SinceSeq: -1})
		assertCode(t, w.end(), codes.InvalidArgument)
	})
}

// Expired entries that were deleted leave gaps; head_seq tells the stream
// is complete past them.
func TestWatchHeadSeqCoversDeletedEntries(t *testing.T) {
	st := newStore(t)
	svc := startService(t, st)
	s := serve(t, svc)
	soon, later := time.Now().Add(time.Minute), time.Now().Add(time.Hour)
	revokeJTI(t, svc, "a", soon)
	revokeJTI(t, svc, "b", later)
	revokeJTI(t, svc, "c", soon)
	if _, err := st.DeleteExpired(t.Context(), time.Now().Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	w := s.watch(t, "internal", &revocationv1.WatchRequest{})
	w.opened(svc.LogID(), 0)
	m := w.next()
	entry(t, m, 2, 3)
	if m.GetEntry().GetId() != "b" {
		t.Fatalf("entry = %v, want b", m.GetEntry())
	}
}

func TestWatchKeyChanges(t *testing.T) {
	svc := startService(t, newStore(t))
	s := serve(t, svc)
	w := s.watch(t, "validator", &revocationv1.WatchRequest{})
	w.opened(svc.LogID(), 0)
	waitWatches(t, svc, 1)

	// In the order the server learns of them, entries and key changes.
	svc.KeyRotated(&eventsv1.KeyRotated{Kid: "k1", State: "ACTIVE", JwksVersion: 7})
	m := w.next()
	if !proto.Equal(m.GetKeyRotated(), &eventsv1.KeyRotated{Kid: "k1", State: "ACTIVE", JwksVersion: 7}) {
		t.Fatalf("message = %v, want the key change", m)
	}
	revokeJTI(t, svc, "a", time.Now().Add(time.Hour))
	entry(t, w.nextNonHeartbeat(), 1, 1)
}

// waitWatches waits until the service has n streams open.
func waitWatches(t testing.TB, svc *revocation.Service, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for svc.Watches() != n {
		if time.Now().After(deadline) {
			t.Fatalf("open streams = %d, want %d", svc.Watches(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Replicas share a store: an entry committed at one reaches the streams
// of the other, woken by the Revoked event on NATS, or without NATS by the
// poll of the store.
func TestWatchEntriesOfAnotherReplica(t *testing.T) {
	for _, be := range dbtest.Backends {
		t.Run(be.Name, func(t *testing.T) {
			db := be.Open(t)
			open := func(db database.DB) revocation.Store {
				st, err := sqlstore.New(t.Context(), db)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			writerStore, readerStore := open(db), open(dbtest.Reopen(t, db))
			t.Run("woken by NATS", func(t *testing.T) {
				b := newBroker(t)
				// The poll is far beyond the test: only the event can wake.
				writer := startService(t, writerStore, revocation.WithNATS(b.connect("writer")))
				reader := startService(t, readerStore, revocation.WithNATS(b.connect("reader")), revocation.WithWatchPoll(time.Hour))
				s := serve(t, reader)
				since := headOf(t, reader)
				w := s.watch(t, "internal", &revocationv1.WatchRequest{SinceSeq: since, LogId: reader.LogID()})
				w.opened(reader.LogID(), since)
				e := revokeJTI(t, writer, "from-the-writer", time.Now().Add(time.Hour))
				entry(t, w.nextNonHeartbeat(), e.GetSeq(), e.GetSeq())

				// Key changes published on NATS reach the streams too.
				ev, err := proto.Marshal(&eventsv1.KeyRotated{Kid: "k2", State: "RETIRED", JwksVersion: 9})
				if err != nil {
					t.Fatal(err)
				}
				nc := b.connect("keys")
				if err := nc.Publish(authn.KeysSubject, ev); err != nil {
					t.Fatal(err)
				}
				if m := w.nextNonHeartbeat(); m.GetKeyRotated().GetKid() != "k2" {
					t.Fatalf("message = %v, want the key change", m)
				}
			})
			t.Run("polled without NATS", func(t *testing.T) {
				writer := startService(t, writerStore)
				reader := startService(t, readerStore, revocation.WithWatchPoll(20*time.Millisecond))
				s := serve(t, reader)
				since := headOf(t, reader)
				w := s.watch(t, "internal", &revocationv1.WatchRequest{SinceSeq: since, LogId: reader.LogID()})
				w.opened(reader.LogID(), since)
				e := revokeJTI(t, writer, "polled", time.Now().Add(time.Hour))
				entry(t, w.nextNonHeartbeat(), e.GetSeq(), e.GetSeq())
			})
		})
	}
}

func headOf(t testing.TB, svc *revocation.Service) int64 {
	t.Helper()
	resp, err := svc.Head(context.Background(), &revocationv1.HeadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetSeq()
}

// A client that stops reading holds no memory of the server's: the
// streams share the feed, and one that falls a feed behind ends with
// RESOURCE_EXHAUSTED after what it had been sent.
func TestWatchSlowClientIsCutOff(t *testing.T) {
	svc := startService(t, newStore(t), revocation.WithWatchBuffer(8))
	s := serve(t, svc)
	w := s.watch(t, "internal", &revocationv1.WatchRequest{})
	w.opened(svc.LogID(), 0)
	waitWatches(t, svc, 1)
	// Far more than the stream's flow-control window, unread.
	big := strings.Repeat("k", 32<<10)
	for range 200 {
		svc.KeyRotated(&eventsv1.KeyRotated{Kid: big, State: "ACTIVE"})
	}
	assertCode(t, w.end(), codes.ResourceExhausted)
	waitWatches(t, svc, 0)

	// It resumes like any client.
	w = s.watch(t, "internal", &revocationv1.WatchRequest{LogId: svc.LogID()})
	w.opened(svc.LogID(), 0)
}

// EndWatches ends every stream at once, so a graceful stop of the server
// does not wait on them.
func TestWatchEndsAtShutdown(t *testing.T) {
	svc := startService(t, newStore(t))
	s := serve(t, svc)
	var streams []*watchStream
	for range 3 {
		w := s.watch(t, "internal", &revocationv1.WatchRequest{})
		w.opened(svc.LogID(), 0)
		streams = append(streams, w)
	}
	svc.EndWatches()
	stopped := make(chan struct{})
	go func() { s.srv.GracefulStop(); close(stopped) }()
	for _, w := range streams {
		st := assertCode(t, w.end(), codes.Unavailable)
		if !strings.Contains(st.Message(), "shutting down") {
			t.Errorf("status = %v, want the shutdown", st)
		}
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("GracefulStop waits on the streams")
	}
	if err := svc.Watch(&revocationv1.WatchRequest{}, endedStream{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("Watch after EndWatches: %v, want Unavailable", err)
	}
}

func TestWatchLimits(t *testing.T) {
	svc := startService(t, newStore(t), revocation.WithWatchLimits(3, 2))
	s := serve(t, svc)
	open := func(caller string) *watchStream {
		w := s.watch(t, caller, &revocationv1.WatchRequest{})
		w.opened(svc.LogID(), 0)
		return w
	}
	first := open("internal")
	open("internal")
	assertCode(t, s.watch(t, "internal", &revocationv1.WatchRequest{}).end(), codes.ResourceExhausted)
	open("other")
	assertCode(t, s.watch(t, "third", &revocationv1.WatchRequest{}).end(), codes.ResourceExhausted)

	first.cancel()
	waitWatches(t, svc, 2)
	open("internal")
}

func TestWatchLifetime(t *testing.T) {
	svc := startService(t, newStore(t), revocation.WithWatchLifetime(100*time.Millisecond))
	s := serve(t, svc)
	w := s.watch(t, "internal", &revocationv1.WatchRequest{})
	w.opened(svc.LogID(), 0)
	assertCode(t, w.end(), codes.Unavailable)
}

// The rule of the contract: gatehouse:internal or gatehouse:validator.
func TestWatchAuthRule(t *testing.T) {
	svc := startService(t, newStore(t))
	s := serve(t, svc)
	for _, caller := range []string{"internal", "validator"} {
		w := s.watch(t, caller, &revocationv1.WatchRequest{})
		w.opened(svc.LogID(), 0)
	}
	assertCode(t, s.watch(t, "admin", &revocationv1.WatchRequest{}).end(), codes.PermissionDenied)
	assertCode(t, s.watch(t, "nobody", &revocationv1.WatchRequest{}).end(), codes.Unauthenticated)

	md := revocationv1.File_gatehouse_revocation_v1_revocation_proto.Services().Get(0).Methods().ByName("Watch")
	rule, _ := proto.GetExtension(md.Options(), authv1.E_Rule).(*authv1.AuthRule)
	want := &authv1.AuthRule{
		Scopes:            []string{"gatehouse:internal"},
		AlternativeScopes: []*authv1.ScopeSet{{Scopes: []string{"gatehouse:validator"}}},
		Credentials: []authv1.CredentialKind{
			authv1.CredentialKind_CREDENTIAL_KIND_JWT,
			authv1.CredentialKind_CREDENTIAL_KIND_API_KEY,
			authv1.CredentialKind_CREDENTIAL_KIND_MTLS,
		},
	}
	if !proto.Equal(rule, want) {
		t.Fatalf("Watch rule = %v, want %v", rule, want)
	}
}

func TestWatchBeforeStartIsUnavailable(t *testing.T) {
	svc := revocation.New(newStore(t))
	defer svc.Close()
	assertCode(t, svc.Watch(&revocationv1.WatchRequest{}, endedStream{}), codes.Unavailable)
}

// Many streams open and close while entries are committed: each stream
// gets every entry after its since_seq, once, in order.
func TestWatchConcurrentStreamsMissNothing(t *testing.T) {
	svc := startService(t, newStore(t), revocation.WithWatchBuffer(16))
	s := serve(t, svc)
	const entries = 60
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range entries {
			_, err := svc.Revoke(context.Background(), &revocationv1.RevokeRequest{
				Kind: revocationv1.Kind_KIND_ACCESS_TOKEN, Id: "jti-" + strings.Repeat("x", i+1), Reason: "test",
				ExpireTime: timestamppb.New(time.Now().Add(time.Hour)),
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	})
	for i := range 4 {
		wg.Go(func() {
			since := int64(i * 5)
			w := s.watch(t, "internal", &revocationv1.WatchRequest{SinceSeq: since})
			next := since + 1
			for next <= entries {
				m, err := w.recv(5 * time.Second)
				if err != nil {
					t.Errorf("stream %d: %v after seq %d", i, err, next-1)
					return
				}
				if e := m.GetEntry(); e != nil {
					if e.GetSeq() != next {
						t.Errorf("stream %d: seq %d, want %d", i, e.GetSeq(), next)
						return
					}
					next++
				}
			}
		})
	}
	wg.Wait()
	<-done
}
