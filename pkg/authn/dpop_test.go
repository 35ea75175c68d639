package authn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop/dpoptest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// dpopKey is a client's DPoP key, signing at the env's clock.
type dpopKey struct{ *dpoptest.Key }

func newDPoPKey(t *testing.T) *dpopKey { return &dpopKey{dpoptest.NewKey(t)} }

// proof signs a proof for htm htu and the access token tok.
func (k *dpopKey) proof(t *testing.T, e *jwtEnv, htm, htu, tok string) string {
	t.Helper()
	return k.ProofAt(t, e.now(), htm, htu, "", tok)
}

func newDPoPValidator(t *testing.T, e *jwtEnv, origin string, withDPoP bool) *Validator {
	t.Helper()
	opts := []Option{WithAuthenticator(e.auth), WithLogger(discardLogger()), WithRecorder(&fakeRecorder{})}
	if withDPoP {
		dv, err := dpop.NewVerifier(dpop.WithClock(e.now))
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, WithDPoP(dv, origin))
	}
	return NewValidator(testRules(t), opts...)
}

const thingsURL = "https://api.example/things"

func TestDPoPOverHTTP(t *testing.T) {
	e := newJWTEnv(t)
	k, other := newDPoPKey(t), newDPoPKey(t)
	bound := mint(t, e.keys.es256, validClaims(e.now()).with("cnf", map[string]any{"jkt": k.JKT}))
	plain := e.valid(t)
	v := newDPoPValidator(t, e, "", true)
	h := v.HTTPMiddleware(&authv1.AuthRule{Scopes: []string{"things:read"}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := FromContext(r.Context()); p == nil || p.DPoPJKT != k.JKT && p.DPoPJKT != "" {
			t.Errorf("principal %+v", p)
		}
	}))
	good := k.proof(t, e, "GET", thingsURL, bound)

	tests := []struct {
		name          string
		authz         string
		proofs        []string
		status        int
		error         string // in the DPoP challenge, or the Bearer one for invalid_token
		dpopChalFirst bool
	}{
		{name: "bound token with its proof", authz: "DPoP " + bound, proofs: []string{good}, status: 200},
		{name: "the same proof again", authz: "DPoP " + bound, proofs: []string{good}, status: 401, error: ErrInvalidDPoPProof, dpopChalFirst: true},
		{name: "a cached token without a proof", authz: "DPoP " + bound, status: 401, error: ErrInvalidDPoPProof, dpopChalFirst: true},
		{name: "two proofs", authz: "DPoP " + bound, proofs: []string{k.proof(t, e, "GET", thingsURL, bound), k.proof(t, e, "GET", thingsURL, bound)}, status: 401, error: ErrInvalidDPoPProof, dpopChalFirst: true},
		{name: "bound token as Bearer (downgrade)", authz: "Bearer " + bound, proofs: []string{k.proof(t, e, "GET", thingsURL, bound)}, status: 401, error: ErrInvalidToken},
		{name: "proof for another method", authz: "DPoP " + bound, proofs: []string{k.proof(t, e, "POST", thingsURL, bound)}, status: 401, error: ErrInvalidDPoPProof, dpopChalFirst: true},
		{name: "proof for another URL", authz: "DPoP " + bound, proofs: []string{k.proof(t, e, "GET", "https://api.example/other", bound)}, status: 401, error: ErrInvalidDPoPProof, dpopChalFirst: true},
		{name: "proof for another token (ath)", authz: "DPoP " + bound, proofs: []string{k.proof(t, e, "GET", thingsURL, plain)}, status: 401, error: ErrInvalidDPoPProof, dpopChalFirst: true},
		{name: "proof by another key", authz: "DPoP " + bound, proofs: []string{other.proof(t, e, "GET", thingsURL, bound)}, status: 401, error: ErrInvalidDPoPProof, dpopChalFirst: true},
		{name: "unbound token with the DPoP scheme", authz: "DPoP " + plain, proofs: []string{k.proof(t, e, "GET", thingsURL, plain)}, status: 401, error: ErrInvalidToken},
		{name: "unbound token as Bearer", authz: "Bearer " + plain, status: 200},
		{name: "a fresh proof for the cached token", authz: "DPoP " + bound, proofs: []string{k.proof(t, e, "GET", thingsURL, bound)}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", thingsURL+"?page=2", nil)
			r.Header.Set("Authorization", tt.authz)
			for _, p := range tt.proofs {
				r.Header.Add("DPoP", p)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 200 {
				return
			}
			chals := w.Header().Values("WWW-Authenticate")
			joined := strings.Join(chals, " | ")
			if !strings.Contains(joined, `error="`+tt.error+`"`) || !strings.Contains(joined, `algs="ES256 EdDSA"`) {
				t.Errorf("WWW-Authenticate %q, want error %s and algs", joined, tt.error)
			}
			if tt.dpopChalFirst && !strings.HasPrefix(chals[0], "DPoP ") {
				t.Errorf("WWW-Authenticate %q, want a DPoP challenge", chals[0])
			}
			if !tt.dpopChalFirst && (len(chals) != 2 || !strings.HasPrefix(chals[0], "Bearer ") || !strings.HasPrefix(chals[1], "DPoP ")) {
				t.Errorf("WWW-Authenticate %q, want a Bearer and a DPoP challenge", chals)
			}
		})
	}
}

func TestDPoPRefusedWithoutVerifier(t *testing.T) {
	e := newJWTEnv(t)
	k := newDPoPKey(t)
	bound := mint(t, e.keys.es256, validClaims(e.now()).with("cnf", map[string]any{"jkt": k.JKT}))
	v := newDPoPValidator(t, e, "", false)
	for _, scheme := range []string{"DPoP ", "Bearer "} {
		md := metadata.Pairs("authorization", scheme+bound, "dpop", k.proof(t, e, "POST", "https://svc/grpc.testing.TestService/UnaryCall", bound), ":authority", "svc")
		if _, err := v.Authorize(context.Background(), "/grpc.testing.TestService/UnaryCall", md, ""); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%sbound token without WithDPoP: %v", scheme, err)
		}
	}
}

func TestDPoPOverGRPC(t *testing.T) {
	e := newJWTEnv(t)
	k := newDPoPKey(t)
	bound := mint(t, e.keys.es256, validClaims(e.now()).with("cnf", map[string]any{"jkt": k.JKT}))
	const method = "/grpc.testing.TestService/UnaryCall"
	tests := []struct {
		name, origin, authority, htm, htu string
		ok                                bool
	}{
		{name: "htu from the authority", authority: "svc.internal:8443", htm: "POST", htu: "https://svc.internal:8443" + method, ok: true},
		{name: "htu from the configured origin", origin: "https://api.example", authority: "10.0.0.7:9000", htm: "POST", htu: "https://api.example" + method, ok: true},
		{name: "the authority does not override the origin", origin: "https://api.example", authority: "evil.example", htm: "POST", htu: "https://evil.example" + method},
		{name: "another method", authority: "svc", htm: "POST", htu: "https://svc/grpc.testing.TestService/CacheableUnaryCall"},
		{name: "htm GET", authority: "svc", htm: "GET", htu: "https://svc" + method},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newDPoPValidator(t, e, tt.origin, true)
			md := metadata.Pairs("authorization", "DPoP "+bound, "dpop", k.proof(t, e, tt.htm, tt.htu, bound), ":authority", tt.authority)
			ctx, err := v.Authorize(context.Background(), method, md, "")
			if tt.ok {
				if p, _ := FromContext(ctx); err != nil || p.DPoPJKT != k.JKT {
					t.Fatalf("Authorize: %v", err)
				}
				return
			}
			info, _ := errorInfo(err)
			if status.Code(err) != codes.Unauthenticated || info.GetReason() != ErrInvalidDPoPProof || info.GetMetadata()["dpop_algs"] != "ES256 EdDSA" {
				t.Fatalf("Authorize: %v, ErrorInfo %v", err, info)
			}
		})
	}
}

// TestDPoPChallengeOnlyForDPoPRequests: a refused Bearer request keeps its
// one Bearer challenge when the validator also takes DPoP.
func TestDPoPChallengeOnlyForDPoPRequests(t *testing.T) {
	e := newJWTEnv(t)
	v := newDPoPValidator(t, e, "", true)
	h := v.HTTPMiddleware(&authv1.AuthRule{Scopes: []string{"things:read"}}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	expired := mint(t, e.keys.es256, validClaims(e.now()).with("exp", e.now().Add(-time.Hour).Unix()))
	r := httptest.NewRequest("GET", thingsURL, nil)
	r.Header.Set("Authorization", "Bearer "+expired)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if c := w.Header().Values("WWW-Authenticate"); w.Code != 401 || len(c) != 1 || !strings.HasPrefix(c[0], "Bearer ") {
		t.Errorf("expired Bearer token: %d %q", w.Code, c)
	}
}
