package peers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testService = "grpc.testing.TestService"

// replica is one peer replica: it answers UnaryCall with its name, after
// failing the first failFirst calls with Unavailable, or never when hang.
type replica struct {
	testgrpc.UnimplementedTestServiceServer
	name      string
	calls     atomic.Int64
	failFirst int64
	hang      chan struct{}
	health    *health.Server
	srv       *grpc.Server
	addr      string
}

func (r *replica) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	n := r.calls.Add(1)
	if n <= r.failFirst {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	if r.hang != nil {
		select {
		case <-r.hang:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &testgrpc.SimpleResponse{Username: r.name}, nil
}

func startReplica(t *testing.T, name string, opts ...grpc.ServerOption) *replica {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, health: health.NewServer(), srv: grpc.NewServer(opts...), addr: lis.Addr().String()}
	testgrpc.RegisterTestServiceServer(r.srv, r)
	healthpb.RegisterHealthServer(r.srv, r.health)
	r.health.SetServingStatus(testService, healthpb.HealthCheckResponse_SERVING)
	go func() { _ = r.srv.Serve(lis) }()
	t.Cleanup(r.srv.Stop)
	return r
}

func dialTest(t *testing.T, cfg Config) testgrpc.TestServiceClient {
	t.Helper()
	cfg.Service = testService
	conn, err := Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return testgrpc.NewTestServiceClient(conn)
}

// callers counts which replica answered n calls.
func callers(t *testing.T, c testgrpc.TestServiceClient, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		resp, err := c.UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		if err != nil {
			t.Fatal(err)
		}
		seen[resp.GetUsername()]++
	}
	return seen
}

// TestRoundRobinOverHealthyReplicas: calls are spread over every replica,
// and a replica that reports NOT_SERVING is left out until it serves again.
func TestRoundRobinOverHealthyReplicas(t *testing.T) {
	a, b := startReplica(t, "a"), startReplica(t, "b")
	c := dialTest(t, Config{Addrs: []string{a.addr, b.addr}})
	if seen := callers(t, c, 20); seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("calls %v, want both replicas used", seen)
	}
	b.health.SetServingStatus(testService, healthpb.HealthCheckResponse_NOT_SERVING)
	waitFor(t, "b left out", func() bool { return callers(t, c, 10)["b"] == 0 })
	b.health.SetServingStatus(testService, healthpb.HealthCheckResponse_SERVING)
	waitFor(t, "b back", func() bool { return callers(t, c, 10)["b"] > 0 })
}

// TestPeerDownIsUnavailable: with every replica gone a call fails fast
// with Unavailable, and one that hangs ends at the timeout as Unavailable.
func TestPeerDownIsUnavailable(t *testing.T) {
	t.Run("replicas down", func(t *testing.T) {
		a := startReplica(t, "a")
		c := dialTest(t, Config{Addrs: []string{a.addr}, Timeout: 2 * time.Second})
		callers(t, c, 1)
		a.srv.Stop()
		start := time.Now()
		_, err := c.UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		if status.Code(err) != codes.Unavailable || time.Since(start) > 3*time.Second {
			t.Fatalf("err %v after %v, want Unavailable within the timeout", err, time.Since(start))
		}
	})
	t.Run("replica hangs", func(t *testing.T) {
		a := startReplica(t, "a")
		a.hang = make(chan struct{})
		defer close(a.hang)
		c := dialTest(t, Config{Addrs: []string{a.addr}, Timeout: 300 * time.Millisecond})
		start := time.Now()
		_, err := c.UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		if status.Code(err) != codes.Unavailable || time.Since(start) > 2*time.Second {
			t.Fatalf("err %v after %v, want Unavailable at about 300ms", err, time.Since(start))
		}
	})
	t.Run("caller's own deadline stays DeadlineExceeded", func(t *testing.T) {
		a := startReplica(t, "a")
		a.hang = make(chan struct{})
		defer close(a.hang)
		c := dialTest(t, Config{Addrs: []string{a.addr}})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{}); status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("err %v, want DeadlineExceeded", err)
		}
	})
}

// TestRetriesUnavailable: a replica answering Unavailable is retried with
// backoff; other errors are not.
func TestRetriesUnavailable(t *testing.T) {
	a := startReplica(t, "a")
	a.failFirst = 2
	c := dialTest(t, Config{Addrs: []string{a.addr}})
	if _, err := c.UnaryCall(context.Background(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("after two Unavailable answers: %v", err)
	}
	if n := a.calls.Load(); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	a.failFirst = 100
	a.calls.Store(0)
	if _, err := c.UnaryCall(context.Background(), &testgrpc.SimpleRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("err %v", err)
	}
	if n := a.calls.Load(); n != 4 {
		t.Fatalf("%d attempts, want the policy's 4", n)
	}
}

func TestDialRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no service", Config{Addrs: []string{"127.0.0.1:1"}}},
		{"no address", Config{Service: testService}},
		{"not host:port", Config{Service: testService, Addrs: []string{"127.0.0.1"}}},
		{"plaintext off loopback", Config{Service: testService, Addrs: []string{"192.0.2.1:9090"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if conn, err := Dial(tt.cfg); err == nil {
				_ = conn.Close()
				t.Fatal("Dial succeeded")
			}
		})
	}
}

// TestClientTLS: a service presents its certificate to a peer that
// requires one, and checks the peer's against the CA.
func TestClientTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.cert.Raw)
	svcCert, svcKey := ca.issue(t, "svc-token", x509.ExtKeyUsageClientAuth)
	writePEM(t, filepath.Join(dir, "svc.pem"), "CERTIFICATE", svcCert)
	keyDER, _ := x509.MarshalECPrivateKey(svcKey)
	writePEM(t, filepath.Join(dir, "svc-key.pem"), "EC PRIVATE KEY", keyDER)
	srvDER, srvKey := ca.issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth)

	var seen sync.Map
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srvTLS := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			seen.Store(cs.PeerCertificates[0].Subject.CommonName, true)
			return nil
		},
	}
	a := startReplica(t, "a", grpc.Creds(credentials.NewTLS(srvTLS)))
	cfg, err := ClientTLS(filepath.Join(dir, "svc.pem"), filepath.Join(dir, "svc-key.pem"), filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c := dialTest(t, Config{Addrs: []string{a.addr}, TLS: cfg})
	callers(t, c, 1)
	if _, ok := seen.Load("svc-token"); !ok {
		t.Fatal("the peer did not see the service's certificate")
	}
	if _, err := ClientTLS(filepath.Join(dir, "svc.pem"), filepath.Join(dir, "svc-key.pem"), filepath.Join(dir, "missing.pem")); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	next int64
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test platform CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, next: 1}
}

func (ca *testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca.next++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.next), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startReplicaOn is startReplica on a given address.
func startReplicaOn(t *testing.T, name, addr string) *replica {
	t.Helper()
	lis, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	r := &replica{name: name, health: health.NewServer(), srv: grpc.NewServer(), addr: lis.Addr().String()}
	testgrpc.RegisterTestServiceServer(r.srv, r)
	healthpb.RegisterHealthServer(r.srv, r.health)
	r.health.SetServingStatus(testService, healthpb.HealthCheckResponse_SERVING)
	go func() { _ = r.srv.Serve(lis) }()
	t.Cleanup(r.srv.Stop)
	return r
}

// TestDNSReplicas: a dns:/// peer is every address its name resolves to,
// looked up again and again: a replica added is used, one removed is left
// out, and a failed lookup keeps the last answer.
func TestDNSReplicas(t *testing.T) {
	a := startReplicaOn(t, "a", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(a.addr)
	startReplicaOn(t, "b", net.JoinHostPort("127.0.0.2", port))
	var mu sync.Mutex
	answer, fail := []string{"127.0.0.1"}, false
	setDNS := func(ips []string, failing bool) {
		mu.Lock()
		defer mu.Unlock()
		answer, fail = ips, failing
	}
	lookup := func(_ context.Context, host string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if host != "localhost" {
			return nil, fmt.Errorf("unexpected host %q", host)
		}
		if fail {
			return nil, errors.New("dns down")
		}
		// A name that resolves off loopback as well: dropped without TLS.
		return append(slices.Clone(answer), "192.0.2.7"), nil
	}
	c := dialTest(t, Config{Addrs: []string{"dns:///localhost:" + port}, lookup: lookup, dnsEvery: 50 * time.Millisecond})
	if seen := callers(t, c, 10); seen["a"] != 10 {
		t.Fatalf("calls %v, want a only", seen)
	}
	setDNS([]string{"127.0.0.1", "127.0.0.2"}, false)
	waitFor(t, "b added", func() bool { return callers(t, c, 10)["b"] > 0 })
	setDNS(nil, true)
	time.Sleep(200 * time.Millisecond)
	if seen := callers(t, c, 20); seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("with DNS failing: %v, want both replicas still", seen)
	}
	setDNS([]string{"127.0.0.2"}, false)
	waitFor(t, "a removed", func() bool { return callers(t, c, 10)["a"] == 0 })
}

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		in         string
		host, port string
		dns, ok    bool
	}{
		{"10.0.0.1:8443", "10.0.0.1", "8443", false, true},
		{"dns:///clients.gatehouse.svc:8443", "clients.gatehouse.svc", "8443", true, true},
		{"[::1]:8443", "::1", "8443", false, true},
		{"dns:///:8443", "", "", false, false},
		{"clients", "", "", false, false},
		{"dns://resolver/clients:8443", "", "", false, false},
	} {
		host, port, dns, err := ParseAddr(tc.in)
		if (err == nil) != tc.ok || host != tc.host || port != tc.port || dns != tc.dns {
			t.Errorf("ParseAddr(%q) = %q %q %v %v", tc.in, host, port, dns, err)
		}
	}
}
