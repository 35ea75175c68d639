package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// The test PKI: a CA, a server certificate for 127.0.0.1, and two client
// certificates (A and B) issued by the CA, generated with crypto/x509.

// Serial numbers of the client certificates, as the revocation list names
// them (lower-case hex).
const (
	serialA = "a11ce0000000000001"
	serialB = "b0b0000000000000002"
)

type testPKI struct {
	pool    *x509.CertPool
	server  tls.Certificate
	clientA tls.Certificate
	clientB tls.Certificate
}

var (
	pkiOnce   sync.Once
	sharedPKI *testPKI
)

// thePKI generates the test PKI once per test binary.
func thePKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		caKey := newP256(t)
		now := time.Now()
		caTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse test CA"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		ca, err := x509.ParseCertificate(caDER)
		if err != nil {
			t.Fatal(err)
		}
		issue := func(serial string, cn string, usage x509.ExtKeyUsage, ips ...net.IP) tls.Certificate {
			key := newP256(t)
			sn, ok := new(big.Int).SetString(serial, 16)
			if !ok {
				t.Fatalf("serial %q", serial)
			}
			tmpl := &x509.Certificate{
				SerialNumber: sn, Subject: pkix.Name{CommonName: cn},
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
				KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
				IPAddresses: ips,
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
		}
		p := &testPKI{pool: x509.NewCertPool()}
		p.pool.AddCert(ca)
		p.server = issue("5e", "127.0.0.1", x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
		p.clientA = issue(serialA, "client A", x509.ExtKeyUsageClientAuth)
		p.clientB = issue(serialB, "client B", x509.ExtKeyUsageClientAuth)
		sharedPKI = p
	})
	if sharedPKI == nil {
		t.Fatal("test PKI not generated")
	}
	return sharedPKI
}

func newP256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// serverTLS requests a client certificate and verifies it against the CA
// when one is given, like the mTLS listener.
func (p *testPKI) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    p.pool,
	}
}

// clientTLS presents cert, when not nil.
func (p *testPKI) clientTLS(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: p.pool}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// certService reports the principal it sees: Username the client,
// OauthScope the trust level, Hostname the certificate serial.
type certService struct {
	testgrpc.UnimplementedTestServiceServer
}

func (certService) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no principal")
	}
	return &testgrpc.SimpleResponse{Username: p.ClientID, OauthScope: p.Trust.String(), Hostname: p.CertSerial}, nil
}

// serveGRPC serves the cert service with v's interceptors on lis.
func serveGRPC(t testing.TB, v *Validator, lis net.Listener, opts ...grpc.ServerOption) {
	t.Helper()
	srv := grpc.NewServer(append(opts,
		grpc.UnaryInterceptor(v.UnaryServerInterceptor()),
		grpc.StreamInterceptor(v.StreamServerInterceptor()))...)
	testgrpc.RegisterTestServiceServer(srv, certService{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
}

func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// dial connects to addr with creds.
func dial(t testing.TB, addr string, creds credentials.TransportCredentials) testgrpc.TestServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return testgrpc.NewTestServiceClient(conn)
}

// dialBufconn connects to an in-memory listener: the trusted forwarder's
// transport.
func dialBufconn(t testing.TB, lis *bufconn.Listener) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func isBufconn(a net.Addr) bool { return a.Network() == "bufconn" }

// serialChecker revokes by certificate serial and keeps every principal
// it is asked about.
type serialChecker struct {
	mu      sync.Mutex
	revoked map[string]bool
	seen    []*Principal
}

func (c *serialChecker) CheckPrincipal(_ context.Context, p *Principal) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, p)
	return c.revoked[p.CertSerial], nil
}

func (c *serialChecker) revoke(serial string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revoked == nil {
		c.revoked = map[string]bool{}
	}
	c.revoked[serial] = true
}

func (c *serialChecker) last() *Principal {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) == 0 {
		return nil
	}
	return c.seen[len(c.seen)-1]
}
