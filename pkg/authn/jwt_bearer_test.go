package authn

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// bearerTokens are the tokens of SECURITY-CHECKLIST section C.
type bearerTokens struct {
	good, expired, forged, readOnly string
}

func newBearerTokens(t *testing.T, e *jwtEnv, scopes string) bearerTokens {
	t.Helper()
	now := e.now()
	return bearerTokens{
		good:     mint(t, e.keys.es256, validClaims(now).with("scope", scopes)),
		expired:  mint(t, e.keys.es256, validClaims(now).with("scope", scopes, "exp", now.Add(-time.Hour).Unix(), "iat", now.Add(-2*time.Hour).Unix())),
		forged:   mint(t, e.keys.es256Other.withKID("es256-1"), validClaims(now).with("scope", scopes)),
		readOnly: mint(t, e.keys.es256, validClaims(now).with("scope", "things:read", "jti", "jti-ro")),
	}
}

// TestJWTGRPCInterceptor covers SECURITY-CHECKLIST section C through the
// gRPC interceptors.
func TestJWTGRPCInterceptor(t *testing.T) {
	jenv := newJWTEnv(t)
	toks := newBearerTokens(t, jenv, "things:read things:write")
	env := newTestEnv(t, testRules(t), WithAuthenticator(jenv.auth))
	unary := func(ctx context.Context) (*testgrpc.SimpleResponse, error) {
		return env.client.UnaryCall(ctx, &testgrpc.SimpleRequest{})
	}
	allScopes := func(ctx context.Context) (*testgrpc.SimpleResponse, error) {
		return env.client.CacheableUnaryCall(ctx, &testgrpc.SimpleRequest{})
	}
	jwtOnly := func(ctx context.Context) (*testgrpc.SimpleResponse, error) {
		s, err := env.client.StreamingInputCall(ctx)
		if err != nil {
			return nil, err
		}
		_, err = s.CloseAndRecv()
		return &testgrpc.SimpleResponse{Username: "client-1"}, err
	}
	tests := []struct {
		name       string
		md         []string
		call       func(ctx context.Context) (*testgrpc.SimpleResponse, error)
		wantCode   codes.Code
		wantOAuth  string
		wantScope  string
		wantMsg    string
		wantAudit  audit.Reason
		wantClient string
	}{
		{name: "valid token", md: []string{"authorization", "Bearer " + toks.good}, call: unary, wantClient: "client-1"},
		{name: "lower-case scheme", md: []string{"authorization", "bearer " + toks.good}, call: unary, wantClient: "client-1"},
		{name: "upper-case scheme", md: []string{"authorization", "BEARER " + toks.good}, call: unary, wantClient: "client-1"},
		{name: "rule asking for a JWT", md: []string{"authorization", "Bearer " + toks.good}, call: jwtOnly, wantClient: "client-1"},
		{name: "no credential", call: unary, wantCode: codes.Unauthenticated, wantAudit: audit.ReasonMissingCredential},
		{name: "expired", md: []string{"authorization", "Bearer " + toks.expired}, call: unary,
			wantCode: codes.Unauthenticated, wantOAuth: ErrInvalidToken, wantMsg: "token expired", wantAudit: audit.ReasonExpiredToken, wantClient: "client-1"},
		{name: "forged", md: []string{"authorization", "Bearer " + toks.forged}, call: unary,
			wantCode: codes.Unauthenticated, wantOAuth: ErrInvalidToken, wantMsg: "invalid signature", wantAudit: audit.ReasonBadSignature},
		{name: "insufficient scope", md: []string{"authorization", "Bearer " + toks.good}, call: allScopes,
			wantCode: codes.PermissionDenied, wantOAuth: ErrInsufficientScope, wantScope: "things:read things:write things:admin",
			wantAudit: audit.ReasonInsufficientScope, wantClient: "client-1"},
		{name: "Bearer without token", md: []string{"authorization", "Bearer"}, call: unary,
			wantCode: codes.Unauthenticated, wantOAuth: ErrInvalidToken, wantAudit: audit.ReasonMalformedCredential},
		{name: "Bearer a b", md: []string{"authorization", "Bearer a b"}, call: unary,
			wantCode: codes.Unauthenticated, wantOAuth: ErrInvalidToken, wantAudit: audit.ReasonMalformedCredential},
		{name: "two tokens", md: []string{"authorization", "Bearer " + toks.good, "authorization", "Bearer " + toks.readOnly}, call: unary,
			wantCode: codes.InvalidArgument, wantOAuth: ErrInvalidRequest, wantAudit: audit.ReasonMultipleCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(env.rec.all())
			resp, err := tt.call(withMD(tt.md...))
			if tt.wantCode == codes.OK {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if resp.GetUsername() != tt.wantClient {
					t.Fatalf("principal client %q, want %q", resp.GetUsername(), tt.wantClient)
				}
				return
			}
			st := status.Convert(err)
			if st.Code() != tt.wantCode {
				t.Fatalf("code %v (%s), want %v", st.Code(), st.Message(), tt.wantCode)
			}
			info, _ := errorInfo(err)
			if info.GetReason() != tt.wantOAuth || info.GetMetadata()[scopeMetadataKey] != tt.wantScope {
				t.Fatalf("ErrorInfo %v, want reason %q scope %q", info, tt.wantOAuth, tt.wantScope)
			}
			if tt.wantMsg != "" && st.Message() != tt.wantMsg {
				t.Fatalf("message %q, want %q", st.Message(), tt.wantMsg)
			}
			for _, tok := range []string{toks.good, toks.expired, toks.forged} {
				checkSafeDescription(t, st.Message(), tok)
			}
			got := env.rec.all()[before:]
			if len(got) != 1 || got[0].Reason != tt.wantAudit || got[0].ClientID != tt.wantClient {
				t.Fatalf("recorded %+v, want one %s for %q", got, tt.wantAudit, tt.wantClient)
			}
		})
	}
}

// TestJWTHTTPMiddleware covers SECURITY-CHECKLIST section C through the
// HTTP middleware: exact RFC 6750 challenges.
func TestJWTHTTPMiddleware(t *testing.T) {
	jenv := newJWTEnv(t)
	toks := newBearerTokens(t, jenv, "things:read things:write")
	rec := &fakeRecorder{}
	v := NewValidator(nil, WithAuthenticator(jenv.auth), WithRecorder(rec), WithLogger(discardLogger()))
	var seen *Principal
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
	read := v.HTTPMiddleware(&authv1.AuthRule{Scopes: []string{"things:read"}}, ok)
	admin := v.HTTPMiddleware(&authv1.AuthRule{Scopes: []string{"things:read", "things:admin"}}, ok)
	const invalid = `Bearer realm="gatehouse", error="invalid_token", error_description=`
	tests := []struct {
		name          string
		h             http.Handler
		query         string
		authz         []string
		wantStatus    int
		wantChallenge string
		wantAudit     audit.Reason
	}{
		{name: "valid", h: read, authz: []string{"Bearer " + toks.good}, wantStatus: 204},
		{name: "lower-case bearer", h: read, authz: []string{"bearer " + toks.good}, wantStatus: 204},
		{name: "upper-case bearer", h: read, authz: []string{"BEARER " + toks.good}, wantStatus: 204},
		{name: "no credential", h: read, wantStatus: 401, wantChallenge: `Bearer realm="gatehouse"`, wantAudit: audit.ReasonMissingCredential},
		{name: "token in the query is ignored", h: read, query: "access_token=" + toks.good, wantStatus: 401,
			wantChallenge: `Bearer realm="gatehouse"`, wantAudit: audit.ReasonMissingCredential},
		{name: "header and query token", h: read, query: "access_token=" + toks.good, authz: []string{"Bearer " + toks.good}, wantStatus: 400,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_request"`, wantAudit: audit.ReasonMultipleCredentials},
		{name: "two Authorization headers", h: read, authz: []string{"Bearer " + toks.good, "Bearer " + toks.readOnly}, wantStatus: 400,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_request"`, wantAudit: audit.ReasonMultipleCredentials},
		{name: "expired", h: read, authz: []string{"Bearer " + toks.expired}, wantStatus: 401,
			wantChallenge: invalid + `"token expired"`, wantAudit: audit.ReasonExpiredToken},
		{name: "forged", h: read, authz: []string{"Bearer " + toks.forged}, wantStatus: 401,
			wantChallenge: invalid + `"invalid signature"`, wantAudit: audit.ReasonBadSignature},
		{name: "garbage", h: read, authz: []string{"Bearer not.a.jwt"}, wantStatus: 401,
			wantChallenge: invalid + `"malformed token"`, wantAudit: audit.ReasonInvalidToken},
		{name: "insufficient scope", h: admin, authz: []string{"Bearer " + toks.readOnly}, wantStatus: 403,
			wantChallenge: `Bearer realm="gatehouse", error="insufficient_scope", scope="things:read things:admin"`, wantAudit: audit.ReasonInsufficientScope},
		{name: "Bearer without token", h: read, authz: []string{"Bearer"}, wantStatus: 401,
			wantChallenge: invalid + `"malformed credential"`, wantAudit: audit.ReasonMalformedCredential},
		{name: "Bearer a b", h: read, authz: []string{"Bearer a b"}, wantStatus: 401,
			wantChallenge: invalid + `"malformed credential"`, wantAudit: audit.ReasonMalformedCredential},
		{name: "Basic", h: read, authz: []string{"Basic dXNlcjpwdw=="}, wantStatus: 401,
			wantChallenge: `Bearer realm="gatehouse"`, wantAudit: audit.ReasonUnsupportedCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			before := len(rec.all())
			target := "/things"
			if tt.query != "" {
				target += "?" + tt.query
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			for _, a := range tt.authz {
				r.Header.Add("Authorization", a)
			}
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, r)
			if tt.wantStatus == 204 {
				if w.Code != 204 || seen == nil || seen.ClientID != "client-1" || seen.Kind != authv1.CredentialKind_CREDENTIAL_KIND_JWT {
					t.Fatalf("status %d, principal %+v", w.Code, seen)
				}
				return
			}
			checkErrorResponse(t, w, tt.wantStatus, tt.wantChallenge, "", "")
			for _, tok := range []string{toks.good, toks.expired, toks.forged, toks.readOnly} {
				checkNoEcho(t, w.Header().Get("WWW-Authenticate"), tok)
				checkNoEcho(t, w.Body.String(), tok)
			}
			got := rec.all()[before:]
			if len(got) != 1 || got[0].Reason != tt.wantAudit {
				t.Fatalf("recorded %+v, want one %s", got, tt.wantAudit)
			}
		})
	}
}

// TestJWTGateway covers SECURITY-CHECKLIST item 28 for JWTs: REST through
// grpc-gateway, bufconn and the interceptors.
func TestJWTGateway(t *testing.T) {
	rules, err := RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	jenv := newJWTEnv(t)
	now := jenv.now()
	admin := mint(t, jenv.keys.es256, validClaims(now).with("scope", "gatehouse:admin"))
	reader := mint(t, jenv.keys.es256, validClaims(now).with("scope", "things:read"))
	expired := mint(t, jenv.keys.es256, validClaims(now).with("scope", "gatehouse:admin", "exp", now.Add(-time.Hour).Unix()))
	v := NewValidator(rules, WithAuthenticator(jenv.auth), WithRecorder(&fakeRecorder{}), WithLogger(discardLogger()))
	srv := grpc.NewServer(grpc.UnaryInterceptor(v.UnaryServerInterceptor()))
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
		authz         string
		wantStatus    int
		wantChallenge string
	}{
		{name: "admin", authz: "Bearer " + admin, wantStatus: 200},
		{name: "no credential", wantStatus: 401, wantChallenge: `Bearer realm="gatehouse"`},
		{name: "expired", authz: "Bearer " + expired, wantStatus: 401,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_token", error_description="token expired"`},
		{name: "insufficient scope", authz: "bearer " + reader, wantStatus: 403,
			wantChallenge: `Bearer realm="gatehouse", error="insufficient_scope", scope="gatehouse:admin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v1/scopes", nil)
			if tt.authz != "" {
				r.Header.Set("Authorization", tt.authz)
			}
			w := httptest.NewRecorder()
			gw.ServeHTTP(w, r)
			if tt.wantStatus == 200 {
				if w.Code != 200 || !strings.Contains(w.Body.String(), "seen-by:client-1") {
					t.Fatalf("status %d body %s", w.Code, w.Body.String())
				}
				return
			}
			checkErrorResponse(t, w, tt.wantStatus, tt.wantChallenge, "", "")
		})
	}
}
