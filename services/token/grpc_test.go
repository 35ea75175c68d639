package token_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	tokenv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/token"
)

// principal is what the gRPC interceptor would put in the context.
func principal(clientID string, scopes ...string) context.Context {
	return authn.NewContext(context.Background(), &authn.Principal{
		Subject: clientID, ClientID: clientID, Kind: authv1.CredentialKind_CREDENTIAL_KIND_API_KEY,
		Scopes: scopes, Trust: authn.TrustAPIKey, RateLimitTier: "standard",
	})
}

// TestGRPCIssueClientCredentialsToken calls the TokenService method
// directly, with the principal the interceptor would have set.
func TestGRPCIssueClientCredentialsToken(t *testing.T) {
	e := newEnv(t)
	p := e.partner.id
	all := []string{"orders:read", "orders:write", "gatehouse:token.issue"}
	tests := []struct {
		name      string
		ctx       context.Context
		req       *tokenv1.IssueClientCredentialsTokenRequest
		code      codes.Code
		wantScope string
		wantAud   string
	}{
		{"default scopes", principal(p, all...), &tokenv1.IssueClientCredentialsTokenRequest{}, codes.OK, "orders:read orders:write", defaultAudience},
		{"narrowed", principal(p, all...), &tokenv1.IssueClientCredentialsTokenRequest{Scopes: []string{"orders:write", "orders:write"}}, codes.OK, "orders:write", defaultAudience},
		{"resource", principal(p, all...), &tokenv1.IssueClientCredentialsTokenRequest{Resource: ordersResource}, codes.OK, "orders:read orders:write", ordersResource},
		{"bounded by the credential's scopes", principal(p, "orders:read", "gatehouse:token.issue"), &tokenv1.IssueClientCredentialsTokenRequest{}, codes.OK, "orders:read", defaultAudience},
		{"beyond the credential's scopes", principal(p, "orders:read", "gatehouse:token.issue"), &tokenv1.IssueClientCredentialsTokenRequest{Scopes: []string{"orders:write"}}, codes.InvalidArgument, "", ""},
		{"beyond the client's scopes", principal(p, all...), &tokenv1.IssueClientCredentialsTokenRequest{Scopes: []string{"billing:read"}}, codes.InvalidArgument, "", ""},
		{"malformed scope", principal(p, all...), &tokenv1.IssueClientCredentialsTokenRequest{Scopes: []string{"a b"}}, codes.InvalidArgument, "", ""},
		{"unregistered resource", principal(p, all...), &tokenv1.IssueClientCredentialsTokenRequest{Resource: "https://evil.example"}, codes.InvalidArgument, "", ""},
		{"no principal", context.Background(), &tokenv1.IssueClientCredentialsTokenRequest{}, codes.Unauthenticated, "", ""},
		{"client without client_credentials", principal(e.codeClient.id, "orders:read"), &tokenv1.IssueClientCredentialsTokenRequest{}, codes.PermissionDenied, "", ""},
		{"deleted client", principal("c_gone", "orders:read"), &tokenv1.IssueClientCredentialsTokenRequest{}, codes.PermissionDenied, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.svc.IssueClientCredentialsToken(tc.ctx, tc.req)
			if status.Code(err) != tc.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, tc.code)
			}
			if err != nil {
				return
			}
			if resp.GetTokenType() != "Bearer" || resp.GetExpiresIn() != 900 || resp.GetScope() != tc.wantScope {
				t.Errorf("response %v", resp)
			}
			checkAccessToken(t, e, resp.GetAccessToken(), p, tc.wantAud, tc.wantScope, 15*time.Minute)
		})
	}
	var refusals int
	for _, f := range e.audit.all() {
		if f.Method == "/gatehouse.token.v1.TokenService/IssueClientCredentialsToken" &&
			(f.Reason == token.ReasonGrantNotAllowed && f.ClientID == e.codeClient.id || f.ClientID == "c_gone") {
			refusals++
		}
	}
	if refusals != 2 {
		t.Errorf("%d audited gRPC refusals, want 2: %+v", refusals, e.audit.all())
	}
}

// TestGRPCIntrospectAndMetadata: the gRPC answers are the HTTP answers.
func TestGRPCIntrospectAndMetadata(t *testing.T) {
	e := newEnv(t)
	tok := e.accessToken(e.partner, "scope=orders%3Aread")
	rs := principal(e.introspector.id, token.ScopeIntrospect)

	got, err := e.svc.Introspect(rs, &tokenv1.IntrospectRequest{Token: tok, TokenTypeHint: "bogus"})
	if err != nil {
		t.Fatal(err)
	}
	m := e.introspect(e.introspector, "token="+tok).json(t)
	if !got.GetActive() || got.GetScope() != m["scope"] || got.GetClientId() != m["client_id"] || got.GetSub() != m["sub"] ||
		len(got.GetAud()) != 1 || got.GetAud()[0] != m["aud"] || got.GetIss() != m["iss"] || got.GetJti() != m["jti"] ||
		float64(got.GetExp().GetSeconds()) != m["exp"] || float64(got.GetIat().GetSeconds()) != m["iat"] || got.GetTokenType() != "Bearer" {
		t.Errorf("gRPC %v\nHTTP %v", got, m)
	}

	for _, bad := range []string{"", "garbage", tok + "x"} {
		got, err := e.svc.Introspect(rs, &tokenv1.IntrospectRequest{Token: bad})
		if err != nil || !proto.Equal(got, &tokenv1.IntrospectResponse{}) {
			t.Errorf("inactive %q: %v %v, want only active=false", bad, got, err)
		}
	}
	if _, err := e.svc.Introspect(principal(e.partner.id, "orders:read"), &tokenv1.IntrospectRequest{Token: tok}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("without gatehouse:introspect: %v", err)
	}
	if _, err := e.svc.Introspect(context.Background(), &tokenv1.IntrospectRequest{Token: tok}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("without principal: %v", err)
	}
	// The per-caller budget applies to gRPC too (standard tier: burst 100).
	var last error
	for range 101 {
		_, last = e.svc.Introspect(principal("c_scanner", token.ScopeIntrospect), &tokenv1.IntrospectRequest{Token: "x"})
	}
	if status.Code(last) != codes.ResourceExhausted {
		t.Errorf("101st gRPC introspection: %v, want ResourceExhausted", last)
	}

	md, err := e.svc.GetServerMetadata(context.Background(), &tokenv1.GetServerMetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	httpMD := e.do(nil, request{method: http.MethodGet, ctype: "-", path: "/.well-known/openid-configuration"})
	if !bytes.Equal(md.GetMetadataJson(), httpMD.body) {
		t.Errorf("gRPC metadata differs from HTTP:\n%s\n%s", md.GetMetadataJson(), httpMD.body)
	}
}

// TestTokensIssuedMetric: gatehouse_tokens_issued_total counts the access
// tokens the token endpoint and the gRPC method issue, by grant type, and
// not the refused requests.
func TestTokensIssuedMetric(t *testing.T) {
	e := newEnv(t)
	if r := e.tokenFor(nil, e.partner, "scope=orders%3Aread"); r.status != http.StatusOK {
		t.Fatalf("token endpoint: %d %s", r.status, r.body)
	}
	if r := e.tokenFor(nil, e.partner, "scope=not%3Agranted"); r.status == http.StatusOK {
		t.Fatal("a scope the client lacks was granted")
	}
	ctx := principal(e.partner.id, "orders:read", "gatehouse:token.issue")
	if _, err := e.svc.IssueClientCredentialsToken(ctx, &tokenv1.IssueClientCredentialsTokenRequest{}); err != nil {
		t.Fatal(err)
	}
	want := `# HELP gatehouse_tokens_issued_total Access tokens issued, by grant type.
# TYPE gatehouse_tokens_issued_total counter
gatehouse_tokens_issued_total{grant_type="client_credentials"} 2
`
	if err := testutil.GatherAndCompare(e.metrics, strings.NewReader(want), "gatehouse_tokens_issued_total"); err != nil {
		t.Fatal(err)
	}
}
