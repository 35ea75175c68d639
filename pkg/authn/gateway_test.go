package authn

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// fakeRegistry serves ListScopes; everything else is unimplemented.
type fakeRegistry struct {
	clientsv1.UnimplementedClientRegistryServiceServer
}

func (fakeRegistry) ListScopes(ctx context.Context, _ *clientsv1.ListScopesRequest) (*clientsv1.ListScopesResponse, error) {
	p, _ := FromContext(ctx)
	return &clientsv1.ListScopesResponse{Scopes: []*clientsv1.Scope{{Name: "seen-by:" + p.ClientID}}}, nil
}

// TestGatewayEndToEnd runs REST through grpc-gateway, a bufconn
// connection and the interceptors, the way the gateway is deployed.
func TestGatewayEndToEnd(t *testing.T) {
	rules, err := RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeVerifier()
	admin, _ := f.add(t, accepted("client-admin", 0, "gatehouse:admin"))
	reader, _ := f.add(t, accepted("client-reader", 0, "things:read"))
	revoked, _ := f.add(t, refused("client-old", clientsv1.APIKeyFailure_API_KEY_FAILURE_REVOKED))
	rec := &fakeRecorder{}
	isBufconn := func(a net.Addr) bool { return a.Network() == "bufconn" }
	v := NewValidator(rules,
		WithAuthenticator(NewAPIKeyAuthenticator(f)),
		WithRecorder(rec),
		WithTrustedForwarder(isBufconn),
		WithLogger(discardLogger()),
	)

	srv := grpc.NewServer(grpc.UnaryInterceptor(v.UnaryServerInterceptor()), grpc.StreamInterceptor(v.StreamServerInterceptor()))
	clientsv1.RegisterClientRegistryServiceServer(srv, fakeRegistry{})
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	mux := runtime.NewServeMux(
		runtime.WithErrorHandler(GatewayErrorHandler("gatehouse")),
		runtime.WithIncomingHeaderMatcher(GatewayIncomingHeaderMatcher),
	)
	if err := clientsv1.RegisterClientRegistryServiceHandler(context.Background(), mux, conn); err != nil {
		t.Fatal(err)
	}
	gw := GatewayPreflight(mux)

	tests := []struct {
		name          string
		headers       map[string][]string
		query         string
		wantStatus    int
		wantChallenge string
		wantBody      string
		wantAudit     audit.Reason
	}{
		{name: "no credential", wantStatus: 401, wantChallenge: `Bearer realm="gatehouse"`, wantAudit: audit.ReasonMissingCredential},
		{name: "query token only", query: "access_token=" + admin, wantStatus: 401, wantChallenge: `Bearer realm="gatehouse"`, wantAudit: audit.ReasonMissingCredential},
		{name: "admin via x-api-key", headers: map[string][]string{"X-API-Key": {admin}}, wantStatus: 200, wantBody: "seen-by:client-admin"},
		{name: "admin via authorization", headers: map[string][]string{"Authorization": {"ApiKey " + admin}}, wantStatus: 200, wantBody: "seen-by:client-admin"},
		{name: "admin via BEARER", headers: map[string][]string{"Authorization": {"BEARER " + admin}}, wantStatus: 200, wantBody: "seen-by:client-admin"},
		{
			name: "revoked", headers: map[string][]string{"X-API-Key": {revoked}}, wantStatus: 401,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_token", error_description="API key revoked"`, wantAudit: audit.ReasonRevokedAPIKey,
		},
		{
			name: "insufficient scope", headers: map[string][]string{"X-API-Key": {reader}}, wantStatus: 403,
			wantChallenge: `Bearer realm="gatehouse", error="insufficient_scope", scope="gatehouse:admin"`, wantAudit: audit.ReasonInsufficientScope,
		},
		{
			name: "two credentials stop at the preflight", headers: map[string][]string{"X-API-Key": {admin}, "Authorization": {"ApiKey " + admin}}, wantStatus: 400,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_request"`,
		},
		{
			name: "grpc-metadata header is not a credential", headers: map[string][]string{"Grpc-Metadata-X-Api-Key": {admin}}, wantStatus: 401,
			wantChallenge: `Bearer realm="gatehouse"`, wantAudit: audit.ReasonMissingCredential,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.all())
			target := "/v1/scopes"
			if tt.query != "" {
				target += "?" + tt.query
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			r.Header.Set("X-Forwarded-For", "6.6.6.6") // spoofed by the client
			for k, vs := range tt.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			w := httptest.NewRecorder()
			gw.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", w.Code, tt.wantStatus, w.Body.String())
			}
			if tt.wantStatus == 200 {
				if !strings.Contains(w.Body.String(), tt.wantBody) {
					t.Fatalf("body = %s", w.Body.String())
				}
				return
			}
			checkErrorResponse(t, w, tt.wantStatus, tt.wantChallenge, "", "")
			if tt.wantAudit != "" {
				got := rec.all()[before:]
				if len(got) != 1 || got[0].Reason != tt.wantAudit {
					t.Fatalf("recorded %+v, want one %s", got, tt.wantAudit)
				}
				// The gateway appended the real client address after the
				// spoofed one; only that is used.
				if got[0].Remote != "192.0.2.1" || got[0].Method != clientsv1.ClientRegistryService_ListScopes_FullMethodName {
					t.Fatalf("recorded remote/method %q/%q", got[0].Remote, got[0].Method)
				}
			}
		})
	}
}
