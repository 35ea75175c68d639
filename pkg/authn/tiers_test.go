package authn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// fixedBearer authenticates every bearer token as a JWT of client c1,
// without a tier, as a JWT authenticator would.
type fixedBearer struct{}

func (fixedBearer) Kind() authv1.CredentialKind { return JWT }
func (fixedBearer) Authenticate(context.Context, string) (*Principal, error) {
	return &Principal{Subject: "c1", ClientID: "c1", Kind: JWT, Scopes: []string{"things:read"}}, nil
}

type countingClients struct {
	calls atomic.Int64
	tier  clientsv1.RateLimitTier
	err   error
}

func (c *countingClients) GetClient(_ context.Context, req *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error) {
	c.calls.Add(1)
	if c.err != nil {
		return nil, c.err
	}
	return &clientsv1.GetClientResponse{Client: &clientsv1.Client{ClientId: req.GetClientId(), RateLimitTier: c.tier}}, nil
}

// TestTierCache: a JWT caller's principal carries its client's tier, asked
// of the registry once and again after Invalidate; a registry failure is
// the standard tier, not a refusal.
func TestTierCache(t *testing.T) {
	reg := &countingClients{tier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_HIGH}
	tiers := NewTierCache(reg)
	v := NewValidator(testRules(t), WithAuthenticator(fixedBearer{}), WithTierResolver(tiers.Tier), WithLogger(discardLogger()))
	var got string
	h := v.RequireScopes("things:read")(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		p, _ := FromContext(r.Context())
		got = p.RateLimitTier
	}))
	call := func() int {
		req := httptest.NewRequest(http.MethodGet, "/things", nil)
		req.Header.Set("Authorization", "Bearer x")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	for range 3 {
		if code := call(); code != http.StatusOK || got != "high" {
			t.Fatalf("%d, tier %q, want 200 and high", code, got)
		}
	}
	if n := reg.calls.Load(); n != 1 {
		t.Fatalf("%d registry calls for three requests, want 1", n)
	}
	reg.tier = clientsv1.RateLimitTier_RATE_LIMIT_TIER_LOW
	tiers.Invalidate("c1")
	if call(); got != "low" {
		t.Fatalf("tier after Invalidate: %q, want low", got)
	}
	reg.err = errors.New("registry down")
	tiers.Invalidate("")
	if code := call(); code != http.StatusOK || got != "" {
		t.Fatalf("registry down: %d, tier %q, want 200 and the standard tier", code, got)
	}
}

// TestErrorDomain: WithErrorDomain names the domain of every refusal.
func TestErrorDomain(t *testing.T) {
	for _, tc := range []struct {
		opts []Option
		want string
	}{
		{nil, ErrorDomain},
		{[]Option{WithErrorDomain("orders.example")}, "orders.example"},
	} {
		v := NewValidator(testRules(t), append(tc.opts, WithLogger(discardLogger()))...)
		_, err := v.Authorize(context.Background(), "/grpc.testing.TestService/UnaryCall", nil, "127.0.0.1:1")
		var domain string
		for _, d := range status.Convert(err).Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				domain = info.GetDomain()
			}
		}
		if domain != tc.want {
			t.Errorf("domain %q, want %q (%v)", domain, tc.want, err)
		}
	}
}
