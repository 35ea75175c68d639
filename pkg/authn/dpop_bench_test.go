package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// BenchmarkDPoPInterceptor compares, in one run, the gRPC interceptor path
// of a repeated ES256 token sent as Bearer with that of a DPoP-bound one
// sent with a fresh ES256 proof per call (signed before the timer starts):
// what the proof check (parse, signature, ath, replay cache) adds to a
// token cache hit.
func BenchmarkDPoPInterceptor(b *testing.B) {
	ks := theKeys(b)
	clk := newFakeClock()
	src := JWKSFunc(func(context.Context) ([]byte, error) { return standardJWKS(b, ks), nil })
	dv, err := dpop.NewVerifier(dpop.WithClock(clk.Now), dpop.WithReplayEntries(1<<22))
	if err != nil {
		b.Fatal(err)
	}
	v := NewValidator(testRules(b),
		WithAuthenticator(newTestJWTAuth(b, src, clk)),
		WithRateLimiter(ratelimit.New(map[string]ratelimit.Tier{"standard": {Rate: 1e12, Burst: 1 << 40}})),
		WithRecorder(&fakeRecorder{}),
		WithLogger(discardLogger()),
		WithDPoP(dv, ""),
	)
	icpt := v.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: testgrpc.TestService_UnaryCall_FullMethodName}
	htu := "https://api.example" + info.FullMethod
	priv, pub := benchDPoPKey(b)
	jkt, err := dpop.Thumbprint(pub)
	if err != nil {
		b.Fatal(err)
	}
	bearer := mint(b, ks.es256, validClaims(clk.Now()))
	bound := mint(b, ks.es256, validClaims(clk.Now()).with("jti", "bound").with("cnf", map[string]any{"jkt": jkt}))
	ctxFor := func(pairs ...string) context.Context {
		md := metadata.Pairs(append([]string{":authority", "api.example", "content-type", "application/grpc",
			"user-agent", "grpc-go/1.85.0", "grpc-accept-encoding", "gzip"}, pairs...)...)
		ctx := metadata.NewIncomingContext(context.Background(), md)
		return peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 50000}})
	}

	b.Run("bearer", func(b *testing.B) {
		ctx := ctxFor("authorization", "Bearer "+bearer)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := icpt(ctx, nil, info, benchHandler); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dpop", func(b *testing.B) {
		// One proof per call, as a client sends: the replay cache refuses
		// a second use.
		ctxs := make([]context.Context, b.N+1)
		for i := range ctxs {
			ctxs[i] = ctxFor("authorization", "DPoP "+bound, "dpop", benchProof(b, priv, pub, htu, clk.Now().Unix(), bound))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := icpt(ctxs[i], nil, info, benchHandler); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchDPoPKey(b *testing.B) (jwk.Key, jwk.Key) {
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	priv, err := jwk.FromRaw(raw)
	if err != nil {
		b.Fatal(err)
	}
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		b.Fatal(err)
	}
	return priv, pub
}

func benchProof(b *testing.B, priv, pub jwk.Key, htu string, iat int64, tok string) string {
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	payload, _ := json.Marshal(map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti[:]), "htm": "POST", "htu": htu,
		"iat": iat, "ath": dpop.AccessTokenHash(tok)})
	hdr := jws.NewHeaders()
	_ = hdr.Set("typ", dpop.ProofType)
	_ = hdr.Set("jwk", pub)
	s, err := jws.Sign(payload, jws.WithKey(jwa.ES256, priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		b.Fatal(err)
	}
	return string(s)
}
