package authz

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// benchSetup is a validator with a real JWT authenticator (EdDSA, in
// memory keys), the authorizer over it, and a token for GET /orders/{id}.
type benchSetup struct {
	v     *authn.Validator
	a     *Authorizer
	token string
	mint  func() string
}

func newBench(b *testing.B, jwtOpts ...authn.JWTOption) *benchSetup {
	b.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	pub, _ := jwk.FromRaw(priv.Public())
	_ = pub.Set(jwk.KeyIDKey, "k1")
	_ = pub.Set(jwk.AlgorithmKey, jwa.EdDSA)
	_ = pub.Set(jwk.KeyUsageKey, jwk.ForSignature)
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	jwksJSON, _ := json.Marshal(set)
	keys := authn.JWKSFunc(func(context.Context) ([]byte, error) { return jwksJSON, nil })
	tokens := authn.NewJWTAuthenticator(keys, append([]authn.JWTOption{
		authn.WithIssuer("https://auth.example"), authn.WithAudience("https://api.example"),
	}, jwtOpts...)...)
	n := 0
	mint := func() string {
		n++
		hdr := jws.NewHeaders()
		_ = hdr.Set(jws.TypeKey, "at+jwt")
		_ = hdr.Set(jws.KeyIDKey, "k1")
		now := time.Now()
		claims, _ := json.Marshal(map[string]any{
			"iss": "https://auth.example", "aud": "https://api.example",
			"sub": "partner", "client_id": "partner", "scope": "orders:read",
			"jti": "t-" + strconv.Itoa(n), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		})
		tok, err := jws.Sign(claims, jws.WithKey(jwa.EdDSA, priv, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			b.Fatal(err)
		}
		return string(tok)
	}
	rules, err := authn.NewRules(map[string]*authv1.AuthRule{"/orders.v1.Orders/Get": {Scopes: []string{"orders:read"}}})
	if err != nil {
		b.Fatal(err)
	}
	v := authn.NewValidator(rules,
		authn.WithAuthenticator(tokens),
		authn.WithRateLimiter(ratelimit.New(map[string]ratelimit.Tier{"": {Rate: 1e12, Burst: 1 << 40}})),
		authn.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	path := filepath.Join(b.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, []byte(testRoutes), 0o600); err != nil {
		b.Fatal(err)
	}
	a, err := New(v, path, nil)
	if err != nil {
		b.Fatal(err)
	}
	return &benchSetup{v: v, a: a, token: mint(), mint: mint}
}

// BenchmarkDecision compares, for a token already validated once
// (repeated) and for one checked in full every time (fresh: the token
// cache off), pkg/authn's own Authorize, the authorizer's Check (route
// match included), forward auth's handler and ext_authz's Check, all in
// process.
func BenchmarkDecision(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts []authn.JWTOption
	}{
		{"repeated", nil},
		{"fresh", []authn.JWTOption{authn.WithTokenCache(0)}},
	} {
		s := newBench(b, mode.opts...)
		b.Run(mode.name+"/authn.Authorize", func(b *testing.B) {
			md := metadata.Pairs("authorization", "Bearer "+s.token)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.v.Authorize(context.Background(), "/orders.v1.Orders/Get", md, "10.0.0.1"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(mode.name+"/Authorizer.Check", func(b *testing.B) {
			req := Request{Method: "GET", URI: "/orders/42?x=1", Authorization: []string{"Bearer " + s.token}, Remote: "10.0.0.1"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.a.Check(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(mode.name+"/authz.check", func(b *testing.B) {
			h := ForwardAuth(s.a, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, "", nil)
			r := httptest.NewRequest(http.MethodGet, ForwardAuthPath, nil)
			r.RemoteAddr = "127.0.0.1:40000"
			r.Header.Set("X-Forwarded-Method", "GET")
			r.Header.Set("X-Forwarded-Uri", "/orders/42")
			r.Header.Set("Authorization", "Bearer "+s.token)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
		b.Run(mode.name+"/ext_authz.Check", func(b *testing.B) {
			x := NewExtAuthz(s.a, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, "", nil)
			ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}})
			in := checkRequest("GET", "/orders/42", map[string]string{"authorization": "Bearer " + s.token})
			b.ReportAllocs()
			for b.Loop() {
				resp, err := x.Check(ctx, in)
				if err != nil || resp.GetStatus().GetCode() != 0 {
					b.Fatal(resp, err)
				}
			}
		})
	}
}
