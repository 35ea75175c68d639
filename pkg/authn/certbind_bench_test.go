package authn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// BenchmarkBindingCheck is the whole unary interceptor path for a cached
// ES256 token (as BenchmarkJWTRepeated), with and without a certificate
// binding: the bound cases add the client certificate's thumbprint (cached
// per certificate), a constant-time compare and a copy of the principal.
func BenchmarkBindingCheck(b *testing.B) {
	pki := thePKI(b)
	ks := theKeys(b)
	clk := newFakeClock()
	src := JWKSFunc(func(context.Context) ([]byte, error) { return standardJWKS(b, ks), nil })
	a := newTestJWTAuth(b, src, clk)
	limiter := ratelimit.New(map[string]ratelimit.Tier{"standard": {Rate: 1e12, Burst: 1 << 40}})
	v := NewValidator(testRules(b),
		WithAuthenticator(a),
		WithRateLimiter(limiter),
		WithRecorder(&fakeRecorder{}),
		WithLogger(discardLogger()),
		WithTrustedForwarder(isBufconn),
	)
	icpt := v.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: testgrpc.TestService_UnaryCall_FullMethodName}
	thumbA := CertThumbprint(pki.clientA.Leaf)
	bound := mint(b, ks.es256, validClaims(clk.Now()).with("jti", "jti-bound", "cnf", map[string]any{"x5t#S256": thumbA}))
	unbound := mint(b, ks.es256, validClaims(clk.Now()).with("jti", "jti-unbound"))

	tcp := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 50000}
	tlsPeer := &peer.Peer{Addr: tcp, AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{
		HandshakeComplete: true, PeerCertificates: []*x509.Certificate{pki.clientA.Leaf},
	}}}
	plainPeer := &peer.Peer{Addr: tcp}
	gatewayPeer := &peer.Peer{Addr: bufconnAddr{}}
	ctxFor := func(p *peer.Peer, token string, extra ...string) context.Context {
		md := metadata.Pairs(append([]string{
			":authority", "api.example",
			"content-type", "application/grpc",
			"user-agent", "grpc-go/1.85.0",
			"grpc-accept-encoding", "gzip",
			"authorization", "Bearer " + token,
		}, extra...)...)
		return peer.NewContext(metadata.NewIncomingContext(context.Background(), md), p)
	}
	cases := []struct {
		name string
		ctx  context.Context
	}{
		{"unbound/plain", ctxFor(plainPeer, unbound)},
		{"unbound/tls-cert", ctxFor(tlsPeer, unbound)},
		{"bound/tls-cert", ctxFor(tlsPeer, bound)},
		{"bound/forwarded", ctxFor(gatewayPeer, bound,
			MetadataClientCertThumbprint, thumbA, MetadataClientCertSerial, serialA)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			// Validate and cache the token, cache the certificate.
			if _, err := icpt(c.ctx, nil, info, benchHandler); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := icpt(c.ctx, nil, info, benchHandler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCertThumbprint is the SHA-256 of a DER client certificate and
// its encoding: what the certificate cache saves on every request after a
// connection's first.
func BenchmarkCertThumbprint(b *testing.B) {
	cert := thePKI(b).clientA.Leaf
	b.ReportAllocs()
	for b.Loop() {
		_ = CertThumbprint(cert)
	}
}

// bufconnAddr is the address of an in-memory (bufconn) peer.
type bufconnAddr struct{}

func (bufconnAddr) Network() string { return "bufconn" }
func (bufconnAddr) String() string  { return "bufconn" }
