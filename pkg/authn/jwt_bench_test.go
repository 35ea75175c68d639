package authn

import (
	"context"
	"net"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"github.com/lestrrat-go/jwx/v2/jws"
	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// jwtBench is the interceptor path for one token, as the gRPC server
// calls it: incoming metadata with the usual headers, a peer, the rule of
// UnaryCall (things:read), a rate limiter no benchmark exhausts.
type jwtBench struct {
	icpt  grpc.UnaryServerInterceptor
	ctx   context.Context
	info  *grpc.UnaryServerInfo
	token string
	key   *testKey
}

func newJWTBench(b *testing.B, key func(*testKeySet) *testKey, opts ...JWTOption) *jwtBench {
	b.Helper()
	ks := theKeys(b)
	k := key(ks)
	clk := newFakeClock()
	src := JWKSFunc(func(context.Context) ([]byte, error) { return standardJWKS(b, ks), nil })
	a := newTestJWTAuth(b, src, clk, opts...)
	limiter := ratelimit.New(map[string]ratelimit.Tier{"standard": {Rate: 1e12, Burst: 1 << 40}})
	v := NewValidator(testRules(b),
		WithAuthenticator(a),
		WithRateLimiter(limiter),
		WithRecorder(&fakeRecorder{}),
		WithLogger(discardLogger()),
	)
	tok := mint(b, k, validClaims(clk.Now()))
	md := metadata.Pairs(
		":authority", "api.example",
		"content-type", "application/grpc",
		"user-agent", "grpc-go/1.85.0",
		"grpc-accept-encoding", "gzip",
		"authorization", "Bearer "+tok,
	)
	ctx := metadata.NewIncomingContext(context.Background(), md)
	ctx = peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 50000}})
	bench := &jwtBench{
		icpt:  v.UnaryServerInterceptor(),
		ctx:   ctx,
		info:  &grpc.UnaryServerInfo{FullMethod: testgrpc.TestService_UnaryCall_FullMethodName},
		token: tok,
		key:   k,
	}
	// Fetch the JWKS (and fill the cache, when there is one).
	if _, err := bench.icpt(ctx, nil, bench.info, benchHandler); err != nil {
		b.Fatal(err)
	}
	return bench
}

var benchAlgs = []struct {
	name string
	key  func(*testKeySet) *testKey
}{
	{"ES256", func(k *testKeySet) *testKey { return k.es256 }},
	{"EdDSA", func(k *testKeySet) *testKey { return k.eddsa }},
	{"RS256", func(k *testKeySet) *testKey { return k.rs256 }},
	{"PS256", func(k *testKeySet) *testKey { return k.ps256 }},
}

// BenchmarkJWTFresh is the whole interceptor path for a token that is
// checked in full (token cache disabled): parse, signature, claims.
func BenchmarkJWTFresh(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg.name, func(b *testing.B) {
			jb := newJWTBench(b, alg.key, WithTokenCache(0))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jb.icpt(jb.ctx, nil, jb.info, benchHandler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJWTRepeated is the whole interceptor path for a token already
// validated: a SHA-256 and a map lookup.
func BenchmarkJWTRepeated(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg.name, func(b *testing.B) {
			jb := newJWTBench(b, alg.key)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jb.icpt(jb.ctx, nil, jb.info, benchHandler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawJWSVerify is jwx's jws.Verify of the same token with the
// public key given: signature only, no claims, no interceptor. The
// reference for BenchmarkJWTFresh.
func BenchmarkRawJWSVerify(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg.name, func(b *testing.B) {
			jb := newJWTBench(b, alg.key, WithTokenCache(0))
			tok := []byte(jb.token)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jws.Verify(tok, jws.WithKey(jb.key.alg, jb.key.pub)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
