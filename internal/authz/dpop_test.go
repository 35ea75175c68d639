package authz

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop/dpoptest"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"google.golang.org/grpc/codes"
)

// A DPoP-bound token at the gateway: its proof is checked against the
// method and URL of the request the gateway asks about (scheme from
// X-Forwarded-Proto, host from X-Forwarded-Host), once; as Bearer, with a
// proof for another request or by another key, it is refused; and a
// sender_constrained route takes bound tokens only.
func TestForwardAuthDPoP(t *testing.T) {
	k, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	jwt := authv1.CredentialKind_CREDENTIAL_KIND_JWT
	toks := tokens{
		"bound-token": {ClientID: "c-dpop", Subject: "c-dpop", Kind: jwt, Scopes: []string{"orders:read", "orders:write"}, RateLimitTier: "t", Trust: authn.TrustBearer, DPoPJKT: k.JKT},
		"plain-token": {ClientID: "c-plain", Subject: "c-plain", Kind: jwt, Scopes: []string{"orders:read", "orders:write"}, RateLimitTier: "t", Trust: authn.TrustBearer},
	}
	verifier, err := dpop.NewVerifier()
	if err != nil {
		t.Fatal(err)
	}
	v := authn.NewValidator(nil, authn.WithAuthenticator(toks), authn.WithRecorder(&recorder{}), authn.WithRealm("gw"),
		authn.WithRateLimiter(ratelimit.New(map[string]ratelimit.Tier{"t": {Rate: 1000, Burst: 1000}})),
		authn.WithDPoP(verifier, ""))
	path := filepath.Join(t.TempDir(), "routes.yaml")
	routes := "routes:\n  - methods: [GET]\n    path: /orders/{id}\n    scopes: [orders:read]\n" +
		"  - methods: [POST]\n    path: /orders\n    scopes: [orders:write]\n    sender_constrained: true\n"
	if err := os.WriteFile(path, []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(v, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Envoy states the scheme and host as attributes; the proof is
	// checked against them the same way.
	ext := extAuthzClient(t, &fixture{a: a})
	extCheck := func(scheme, proof string) codes.Code {
		t.Helper()
		in := checkRequest("GET", "/orders/9", map[string]string{"authorization": "DPoP bound-token", "dpop": proof})
		in.Attributes.Request.Http.Scheme = scheme
		out, err := ext.Check(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		return codes.Code(out.GetStatus().GetCode())
	}
	if got := extCheck("https", k.Proof(t, "GET", "https://api.example.com/orders/9", "", "bound-token")); got != codes.OK {
		t.Errorf("ext_authz, bound token with its proof: %v", got)
	}
	if got := extCheck("http", k.Proof(t, "GET", "https://api.example.com/orders/9", "", "bound-token")); got == codes.OK {
		t.Error("ext_authz took a proof for https on an http request")
	}

	srv := httptest.NewServer(ForwardAuth(a, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "", nil))
	t.Cleanup(srv.Close)
	ask := func(method, uri string, hdr map[string]string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+ForwardAuthPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-Method", method)
		req.Header.Set("X-Forwarded-Uri", uri)
		req.Header.Set("X-Forwarded-Host", "orders.example")
		req.Header.Set("X-Forwarded-Proto", "https")
		for name, val := range hdr {
			req.Header.Set(name, val)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	good := k.Proof(t, "GET", "https://orders.example/orders/7", "", "bound-token")
	for _, tc := range []struct {
		name          string
		method, uri   string
		scheme, proof string
		token         string
		want          int
	}{
		{"bound token with its proof", "GET", "/orders/7?full=1", "DPoP", good, "bound-token", http.StatusOK},
		{"the same proof again", "GET", "/orders/7", "DPoP", good, "bound-token", http.StatusUnauthorized},
		{"as a Bearer token", "GET", "/orders/7", "Bearer", k.Proof(t, "GET", "https://orders.example/orders/7", "", "bound-token"), "bound-token", http.StatusUnauthorized},
		{"a proof for another path", "GET", "/orders/7", "DPoP", k.Proof(t, "GET", "https://orders.example/orders/8", "", "bound-token"), "bound-token", http.StatusUnauthorized},
		{"a proof for another method", "GET", "/orders/7", "DPoP", k.Proof(t, "POST", "https://orders.example/orders/7", "", "bound-token"), "bound-token", http.StatusUnauthorized},
		{"a proof by another key", "GET", "/orders/7", "DPoP", other.Proof(t, "GET", "https://orders.example/orders/7", "", "bound-token"), "bound-token", http.StatusUnauthorized},
		{"sender-constrained route, bound token", "POST", "/orders", "DPoP", k.Proof(t, "POST", "https://orders.example/orders", "", "bound-token"), "bound-token", http.StatusOK},
		{"sender-constrained route, bearer token", "POST", "/orders", "Bearer", "", "plain-token", http.StatusUnauthorized},
		{"plain route, bearer token", "GET", "/orders/7", "Bearer", "", "plain-token", http.StatusOK},
	} {
		hdr := map[string]string{"Authorization": tc.scheme + " " + tc.token}
		if tc.proof != "" {
			hdr["DPoP"] = tc.proof
		}
		if got := ask(tc.method, tc.uri, hdr); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
