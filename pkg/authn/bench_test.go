package authn

import (
	"context"
	"net"
	"testing"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// benchSetup returns the unary interceptor, a context as the gRPC server
// builds it (peer, incoming metadata with the usual headers and a cached
// API key) and the call info.
func benchSetup(b *testing.B) (grpc.UnaryServerInterceptor, context.Context, *grpc.UnaryServerInfo) {
	b.Helper()
	f := newFakeVerifier()
	raw, _ := f.add(b, accepted("client-bench", clientsv1.RateLimitTier_RATE_LIMIT_TIER_INTERNAL, "things:read", "things:write"))
	// A tier no benchmark can exhaust, so every call takes the allowed path.
	limiter := ratelimit.New(map[string]ratelimit.Tier{"internal": {Rate: 1e12, Burst: 1 << 40}})
	v := NewValidator(testRules(b),
		WithAuthenticator(NewAPIKeyAuthenticator(f)),
		WithRateLimiter(limiter),
		WithRecorder(&fakeRecorder{}),
		WithLogger(discardLogger()),
	)
	md := metadata.Pairs(
		":authority", "api.example",
		"content-type", "application/grpc",
		"user-agent", "grpc-go/1.85.0",
		"grpc-accept-encoding", "gzip",
		"authorization", "ApiKey "+raw,
	)
	ctx := metadata.NewIncomingContext(context.Background(), md)
	ctx = peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 50000}})
	info := &grpc.UnaryServerInfo{FullMethod: testgrpc.TestService_UnaryCall_FullMethodName}
	icpt := v.UnaryServerInterceptor()
	// Warm the cache and the rate-limit bucket.
	if _, err := icpt(ctx, nil, info, benchHandler); err != nil {
		b.Fatal(err)
	}
	if f.Calls() != 1 {
		b.Fatal("verifier not called once")
	}
	return icpt, ctx, info
}

func benchHandler(ctx context.Context, _ any) (any, error) {
	if _, ok := FromContext(ctx); !ok {
		panic("no principal")
	}
	return nil, nil
}

// BenchmarkUnaryInterceptorAPIKeyCached is the whole interceptor path for
// a request with a cached API key.
func BenchmarkUnaryInterceptorAPIKeyCached(b *testing.B) {
	icpt, ctx, info := benchSetup(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := icpt(ctx, nil, info, benchHandler); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnaryInterceptorAPIKeyCachedParallel is the same under
// contention: one key, GOMAXPROCS goroutines.
func BenchmarkUnaryInterceptorAPIKeyCachedParallel(b *testing.B) {
	icpt, ctx, info := benchSetup(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := icpt(ctx, nil, info, benchHandler); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
