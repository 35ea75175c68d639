package authn

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// testService reports the principal it sees.
type testService struct {
	testgrpc.UnimplementedTestServiceServer
}

func (testService) EmptyCall(ctx context.Context, _ *testgrpc.Empty) (*testgrpc.Empty, error) {
	if _, ok := FromContext(ctx); ok {
		return nil, status.Error(codes.Internal, "public method got a principal")
	}
	return &testgrpc.Empty{}, nil
}

func (testService) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return principalResponse(ctx)
}

func (testService) CacheableUnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return principalResponse(ctx)
}

func (testService) StreamingOutputCall(_ *testgrpc.StreamingOutputCallRequest, stream testgrpc.TestService_StreamingOutputCallServer) error {
	p, ok := FromContext(stream.Context())
	if !ok {
		return status.Error(codes.Internal, "no principal in the stream context")
	}
	return stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: []byte(p.ClientID)}})
}

func (testService) StreamingInputCall(stream testgrpc.TestService_StreamingInputCallServer) error {
	return stream.SendAndClose(&testgrpc.StreamingInputCallResponse{})
}

func principalResponse(ctx context.Context) (*testgrpc.SimpleResponse, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no principal")
	}
	return &testgrpc.SimpleResponse{Username: p.ClientID, OauthScope: strings.Join(p.Scopes, " ")}, nil
}

// testEnv is a real gRPC server on 127.0.0.1:0 with the validator's
// interceptors, serving the test service and health.
type testEnv struct {
	conn     *grpc.ClientConn
	client   testgrpc.TestServiceClient
	verifier *fakeVerifier
	keys     *APIKeyAuthenticator
	rec      *fakeRecorder
	clock    *fakeClock
}

func newTestEnv(t *testing.T, rules *Rules, opts ...Option) *testEnv {
	t.Helper()
	env := &testEnv{verifier: newFakeVerifier(), rec: &fakeRecorder{}, clock: newFakeClock()}
	env.keys = NewAPIKeyAuthenticator(env.verifier, WithCacheClock(env.clock.Now))
	all := append([]Option{WithAuthenticator(env.keys), WithRecorder(env.rec), WithService("test"), WithLogger(discardLogger())}, opts...)
	v := NewValidator(rules, all...)

	srv := grpc.NewServer(
		grpc.UnaryInterceptor(v.UnaryServerInterceptor()),
		grpc.StreamInterceptor(v.StreamServerInterceptor()),
	)
	testgrpc.RegisterTestServiceServer(srv, testService{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	env.conn = conn
	env.client = testgrpc.NewTestServiceClient(conn)
	return env
}

func withMD(pairs ...string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), pairs...)
}

func TestUnaryInterceptor(t *testing.T) {
	type call func(ctx context.Context, c testgrpc.TestServiceClient) (*testgrpc.SimpleResponse, error)
	unary := func(ctx context.Context, c testgrpc.TestServiceClient) (*testgrpc.SimpleResponse, error) {
		return c.UnaryCall(ctx, &testgrpc.SimpleRequest{})
	}
	cacheable := func(ctx context.Context, c testgrpc.TestServiceClient) (*testgrpc.SimpleResponse, error) {
		return c.CacheableUnaryCall(ctx, &testgrpc.SimpleRequest{})
	}
	empty := func(ctx context.Context, c testgrpc.TestServiceClient) (*testgrpc.SimpleResponse, error) {
		_, err := c.EmptyCall(ctx, &testgrpc.Empty{})
		return &testgrpc.SimpleResponse{}, err
	}
	standard := clientsv1.RateLimitTier_RATE_LIMIT_TIER_STANDARD

	tests := []struct {
		name string
		// setup registers keys and returns the outgoing metadata pairs.
		setup       func(t *testing.T, f *fakeVerifier) []string
		call        call
		wantCode    codes.Code
		wantOAuth   string // ErrorInfo reason; checked when wantCode != OK
		wantScope   string // ErrorInfo metadata scope
		wantMessage string // substring of the status message
		wantAudit   audit.Reason
		wantClient  string // audit client_id, and the principal's on success
		wantScopes  string // principal scopes on success
		wantCalls   int    // verifier calls
	}{
		{
			name:     "public method without credential",
			setup:    func(*testing.T, *fakeVerifier) []string { return nil },
			call:     empty,
			wantCode: codes.OK,
		},
		{
			name: "public method ignores a bad credential",
			setup: func(t *testing.T, _ *fakeVerifier) []string {
				return []string{"authorization", "Bearer a b", "authorization", "Basic x"}
			},
			call:     empty,
			wantCode: codes.OK,
		},
		{
			name:      "no credential",
			setup:     func(*testing.T, *fakeVerifier) []string { return nil },
			call:      unary,
			wantCode:  codes.Unauthenticated,
			wantOAuth: "",
			wantAudit: audit.ReasonMissingCredential,
		},
		{
			name: "good key via x-api-key",
			setup: func(t *testing.T, f *fakeVerifier) []string {
				raw, _ := f.add(t, accepted("client-a", standard, "things:read", "other"))
				return []string{"x-api-key", raw}
			},
			call:       unary,
			wantCode:   codes.OK,
			wantClient: "client-a",
			wantScopes: "things:read other",
			wantCalls:  1,
		},
		{
			name: "good key via ApiKey scheme",
			setup: func(t *testing.T, f *fakeVerifier) []string {
				raw, _ := f.add(t, accepted("client-a", standard, "things:read"))
				return []string{"authorization", "ApiKey " + raw}
			},
			call:       unary,
			wantCode:   codes.OK,
			wantClient: "client-a",
			wantScopes: "things:read",
			wantCalls:  1,
		},
		{
			name: "good key via lower-case bearer",
			setup: func(t *testing.T, f *fakeVerifier) []string {
				raw, _ := f.add(t, accepted("client-a", standard, "things:read"))
				return []string{"authorization", "bearer " + raw}
			},
			call:       unary,
			wantCode:   codes.OK,
			wantClient: "client-a",
			wantScopes: "things:read",
			wantCalls:  1,
		},
		{
			name: "malformed key is refused without the verifier",
			setup: func(t *testing.T, _ *fakeVerifier) []string {
				return []string{"x-api-key", badChecksumKey(t)}
			},
			call:      unary,
			wantCode:  codes.Unauthenticated,
			wantOAuth: ErrInvalidToken,
			wantAudit: audit.ReasonMalformedCredential,
			wantCalls: 0,
		},
		{
			name: "short garbage key is refused without the verifier",
			setup: func(*testing.T, *fakeVerifier) []string {
				return []string{"authorization", "ApiKey gth_123"}
			},
			call:      unary,
			wantCode:  codes.Unauthenticated,
			wantOAuth: ErrInvalidToken,
			wantAudit: audit.ReasonMalformedCredential,
		},
		{
			name: "unknown key",
			setup: func(t *testing.T, _ *fakeVerifier) []string {
				return []string{"x-api-key", unregisteredKey(t)}
			},
			call:      unary,
			wantCode:  codes.Unauthenticated,
			wantOAuth: ErrInvalidToken,
			wantAudit: audit.ReasonUnknownAPIKey,
			wantCalls: 1,
		},
		{
			name: "revoked key",
			setup: func(t *testing.T, f *fakeVerifier) []string {
				raw, _ := f.add(t, refused("client-r", clientsv1.APIKeyFailure_API_KEY_FAILURE_REVOKED))
				return []string{"x-api-key", raw}
			},
			call:        unary,
			wantCode:    codes.Unauthenticated,
			wantOAuth:   ErrInvalidToken,
			wantMessage: "revoked",
			wantAudit:   audit.ReasonRevokedAPIKey,
			wantClient:  "client-r",
			wantCalls:   1,
		},
		{
			name: "expired key",
			setup: func(t *testing.T, f *fakeVerifier) []string {
				raw, _ := f.add(t, refused("client-e", clientsv1.APIKeyFailure_API_KEY_FAILURE_EXPIRED))
				return []string{"x-api-key", raw}
			},
			call:       unary,
			wantCode:   codes.Unauthenticated,
			wantOAuth:  ErrInvalidToken,
			wantAudit:  audit.ReasonExpiredAPIKey,
			wantClient: "client-e",
			wantCalls:  1,
		},
		{
			name: "disabled client",
			setup: func(t *testing.T, f *fakeVerifier) []string {
				raw, _ := f.add(t, refused("client-d", clientsv1.APIKeyFailure_API_KEY_FAILURE_CLIENT_DISABLED))
				return []string{"x-api-key", raw}
			},
			call:       unary,
			wantCode:   codes.Unauthenticated,
			wantOAuth:  ErrInvalidToken,
			wantAudit:  audit.ReasonClientDisabled,
			wantClient: "client-d",
			wantCalls:  1,
		},
		{
			name: "registry says malformed",
			setup: func(t *testing.T, f *fakeVerifier) []string {
				raw, _ := f.add(t, refused("", clientsv1.APIKeyFailure_API_KEY_FAILURE_MALFORMED))
				return []string{"x-api-key", raw}
			},
			call:      unary,
			wantCode:  codes.Unauthenticated,
			wantOAuth: ErrInvalidToken,
			wantAudit: audit.ReasonMalformedCredential,
			wantCalls: 1,
		},
		{
			name: "missing scopes are named",
			setup: func(t *testing.T, f *fakeVerifier) []string {
				raw, _ := f.add(t, accepted("client-a", standard, "things:read"))
				return []string{"x-api-key", raw}
			},
			call:        cacheable,
			wantCode:    codes.PermissionDenied,
			wantOAuth:   ErrInsufficientScope,
			wantScope:   "things:read things:write things:admin",
			wantMessage: "missing scope: things:write things:admin",
			wantAudit:   audit.ReasonInsufficientScope,
			wantClient:  "client-a",
			wantCalls:   1,
		},
		{
			name: "all scopes present",
			setup: func(t *testing.T, f *fakeVerifier) []string {
				raw, _ := f.add(t, accepted("client-b", standard, "things:admin", "things:write", "things:read"))
				return []string{"x-api-key", raw}
			},
			call:       cacheable,
			wantCode:   codes.OK,
			wantClient: "client-b",
			wantScopes: "things:admin things:write things:read",
			wantCalls:  1,
		},
		{
			name: "two authorization values",
			setup: func(t *testing.T, f *fakeVerifier) []string {
				raw, _ := f.add(t, accepted("client-a", standard, "things:read"))
				return []string{"authorization", "ApiKey " + raw, "authorization", "ApiKey " + raw}
			},
			call:      unary,
			wantCode:  codes.InvalidArgument,
			wantOAuth: ErrInvalidRequest,
			wantAudit: audit.ReasonMultipleCredentials,
		},
		{
			name: "authorization and x-api-key",
			setup: func(t *testing.T, f *fakeVerifier) []string {
				raw, _ := f.add(t, accepted("client-a", standard, "things:read"))
				return []string{"authorization", "ApiKey " + raw, "x-api-key", raw}
			},
			call:      unary,
			wantCode:  codes.InvalidArgument,
			wantOAuth: ErrInvalidRequest,
			wantAudit: audit.ReasonMultipleCredentials,
		},
		{
			name: "bearer jwt without a jwt authenticator",
			setup: func(*testing.T, *fakeVerifier) []string {
				return []string{"authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}
			},
			call:      unary,
			wantCode:  codes.Unauthenticated,
			wantOAuth: "",
			wantAudit: audit.ReasonUnsupportedCredential,
		},
		{
			name:      "unknown scheme",
			setup:     func(*testing.T, *fakeVerifier) []string { return []string{"authorization", "Basic dXNlcjpwYXNz"} },
			call:      unary,
			wantCode:  codes.Unauthenticated,
			wantOAuth: "",
			wantAudit: audit.ReasonUnsupportedCredential,
		},
		{
			name:      "bearer without token",
			setup:     func(*testing.T, *fakeVerifier) []string { return []string{"authorization", "Bearer"} },
			call:      unary,
			wantCode:  codes.Unauthenticated,
			wantOAuth: ErrInvalidToken,
			wantAudit: audit.ReasonMalformedCredential,
		},
		{
			name:      "bearer with two tokens",
			setup:     func(*testing.T, *fakeVerifier) []string { return []string{"authorization", "Bearer a b"} },
			call:      unary,
			wantCode:  codes.Unauthenticated,
			wantOAuth: ErrInvalidToken,
			wantAudit: audit.ReasonMalformedCredential,
		},
		{
			name: "oversized credential does no lookup",
			setup: func(*testing.T, *fakeVerifier) []string {
				return []string{"x-api-key", "gth_" + strings.Repeat("A", 8192)}
			},
			call:      unary,
			wantCode:  codes.Unauthenticated,
			wantOAuth: ErrInvalidToken,
			wantAudit: audit.ReasonCredentialTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, testRules(t))
			pairs := tt.setup(t, env.verifier)
			ctx, cancel := context.WithTimeout(withMD(pairs...), 10*time.Second)
			defer cancel()
			resp, err := tt.call(ctx, env.client)

			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.wantCode)
			}
			if n := env.verifier.Calls(); n != tt.wantCalls {
				t.Errorf("verifier calls = %d, want %d", n, tt.wantCalls)
			}
			failures := env.rec.all()
			if tt.wantCode == codes.OK {
				if len(failures) != 0 {
					t.Errorf("recorded %v for an accepted call", failures)
				}
				if resp.GetUsername() != tt.wantClient || resp.GetOauthScope() != tt.wantScopes {
					t.Errorf("principal = %q %q, want %q %q", resp.GetUsername(), resp.GetOauthScope(), tt.wantClient, tt.wantScopes)
				}
				return
			}
			info, _ := errorInfo(err)
			if info == nil || info.GetDomain() != ErrorDomain {
				t.Fatalf("no gatehouse ErrorInfo in %v", status.Convert(err).Proto())
			}
			if info.GetReason() != tt.wantOAuth {
				t.Errorf("ErrorInfo.Reason = %q, want %q", info.GetReason(), tt.wantOAuth)
			}
			if got := info.GetMetadata()["scope"]; got != tt.wantScope {
				t.Errorf("ErrorInfo scope = %q, want %q", got, tt.wantScope)
			}
			if msg := status.Convert(err).Message(); !strings.Contains(msg, tt.wantMessage) || strings.Contains(msg, "gth_") {
				t.Errorf("message = %q, want it to contain %q and no key", msg, tt.wantMessage)
			}
			if len(failures) != 1 {
				t.Fatalf("recorded %d failures, want exactly 1: %v", len(failures), failures)
			}
			f := failures[0]
			if f.Reason != tt.wantAudit || f.ClientID != tt.wantClient || f.Method != testgrpc.TestService_UnaryCall_FullMethodName && f.Method != testgrpc.TestService_CacheableUnaryCall_FullMethodName {
				t.Errorf("recorded %+v, want reason %s client %q", f, tt.wantAudit, tt.wantClient)
			}
			if f.Remote != "127.0.0.1" || f.Service != "test" || f.At.IsZero() {
				t.Errorf("recorded remote/service/at = %q/%q/%v", f.Remote, f.Service, f.At)
			}
		})
	}
}

func TestNoRuleIsDenied(t *testing.T) {
	tests := []struct {
		name       string
		rules      func(t *testing.T) *Rules
		healthShut bool
	}{
		{name: "hand-built rules", rules: func(t *testing.T) *Rules { return testRules(t) }},
		{name: "rules from the proto registry", rules: func(t *testing.T) *Rules {
			r, err := RulesFromFiles(protoregistry.GlobalFiles)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}},
		{name: "nil rules refuse even health", rules: func(*testing.T) *Rules { return nil }, healthShut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, tt.rules(t))
			raw, _ := env.verifier.add(t, accepted("client-a", 0, "things:read", "gatehouse:admin"))
			ctx := withMD("x-api-key", raw)

			stream, err := env.client.HalfDuplexCall(ctx)
			if err == nil {
				_, err = stream.Recv()
			}
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("method without rule: %v, want PermissionDenied", err)
			}
			if env.verifier.Calls() != 0 {
				t.Error("the credential of a method without a rule was checked")
			}
			f := env.rec.all()
			if len(f) != 1 || f[0].Reason != audit.ReasonNoAuthRule || f[0].Method != testgrpc.TestService_HalfDuplexCall_FullMethodName {
				t.Fatalf("recorded %+v, want one no_auth_rule", f)
			}
			// Health is public with any rule source.
			_, err = healthpb.NewHealthClient(env.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
			if tt.healthShut != (status.Code(err) == codes.PermissionDenied) {
				t.Fatalf("health check: %v", err)
			}
		})
	}
	t.Run("registry rules refuse an unannotated unary method", func(t *testing.T) {
		r, err := RulesFromFiles(protoregistry.GlobalFiles)
		if err != nil {
			t.Fatal(err)
		}
		env := newTestEnv(t, r)
		if _, err := env.client.EmptyCall(context.Background(), &testgrpc.Empty{}); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("EmptyCall: %v, want PermissionDenied", err)
		}
	})
}

func TestStreamInterceptor(t *testing.T) {
	tests := []struct {
		name       string
		withKey    bool
		scopes     []string
		wantCode   codes.Code
		wantClient string
	}{
		{name: "principal in stream context", withKey: true, scopes: []string{"things:read"}, wantCode: codes.OK, wantClient: "client-s"},
		{name: "no credential", wantCode: codes.Unauthenticated},
		{name: "missing scope", withKey: true, scopes: []string{"other"}, wantCode: codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, testRules(t))
			ctx := context.Background()
			if tt.withKey {
				raw, _ := env.verifier.add(t, accepted("client-s", 0, tt.scopes...))
				ctx = withMD("authorization", "ApiKey "+raw)
			}
			stream, err := env.client.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{})
			if err != nil {
				t.Fatal(err)
			}
			msg, err := stream.Recv()
			if status.Code(err) != tt.wantCode {
				t.Fatalf("Recv: %v, want %v", err, tt.wantCode)
			}
			if tt.wantCode == codes.OK {
				if got := string(msg.GetPayload().GetBody()); got != tt.wantClient {
					t.Fatalf("principal = %q, want %q", got, tt.wantClient)
				}
				if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
					t.Fatalf("end of stream: %v", err)
				}
			}
			if n := len(env.rec.all()); (tt.wantCode == codes.OK) != (n == 0) || n > 1 {
				t.Fatalf("recorded %d failures", n)
			}
		})
	}
}

func TestCredentialKindNotAllowed(t *testing.T) {
	env := newTestEnv(t, testRules(t))
	raw, _ := env.verifier.add(t, accepted("client-k", 0, "things:read"))
	stream, err := env.client.StreamingInputCall(withMD("x-api-key", raw))
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.CloseAndRecv()
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("API key on a JWT/mTLS-only method: %v, want PermissionDenied", err)
	}
	if info, _ := errorInfo(err); info.GetReason() != ErrInsufficientScope {
		t.Fatalf("ErrorInfo.Reason = %q", info.GetReason())
	}
	f := env.rec.all()
	if len(f) != 1 || f[0].Reason != audit.ReasonCredentialKindNotAllowed || f[0].ClientID != "client-k" {
		t.Fatalf("recorded %+v", f)
	}
}

func TestRateLimit(t *testing.T) {
	clk := newFakeClock()
	limiter := ratelimit.New(map[string]ratelimit.Tier{
		"low":      {Rate: 0.5, Burst: 2},
		"standard": {Rate: 100, Burst: 100},
	}, ratelimit.WithClock(clk.Now))
	env := newTestEnv(t, testRules(t), WithRateLimiter(limiter))
	lowKey, _ := env.verifier.add(t, accepted("client-low", clientsv1.RateLimitTier_RATE_LIMIT_TIER_LOW, "things:read"))
	otherKey, _ := env.verifier.add(t, accepted("client-other", clientsv1.RateLimitTier_RATE_LIMIT_TIER_LOW, "things:read"))

	call := func(raw string) error {
		_, err := env.client.UnaryCall(withMD("x-api-key", raw), &testgrpc.SimpleRequest{})
		return err
	}
	for i := range 2 {
		if err := call(lowKey); err != nil {
			t.Fatalf("call %d within burst: %v", i+1, err)
		}
	}
	err := call(lowKey)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("call past burst: %v, want ResourceExhausted", err)
	}
	_, retry := errorInfo(err)
	if retry == nil || retry.GetRetryDelay().AsDuration() != 2*time.Second {
		t.Fatalf("RetryInfo = %v, want 2s", retry)
	}
	f := env.rec.all()
	if len(f) != 1 || f[0].Reason != audit.ReasonRateLimited || f[0].ClientID != "client-low" {
		t.Fatalf("recorded %+v", f)
	}
	if err := call(otherKey); err != nil {
		t.Fatalf("another client of the same tier was limited: %v", err)
	}
	clk.Advance(2 * time.Second)
	if err := call(lowKey); err != nil {
		t.Fatalf("after RetryInfo's delay: %v", err)
	}
}

func TestVerifierOutage(t *testing.T) {
	env := newTestEnv(t, testRules(t))
	raw, _ := env.verifier.add(t, accepted("client-a", 0, "things:read"))
	env.verifier.setErr(errOutage)
	_, err := env.client.UnaryCall(withMD("x-api-key", raw), &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("outage: %v, want Unavailable", err)
	}
	if strings.Contains(status.Convert(err).Message(), "connection refused") {
		t.Fatalf("internal error leaked: %q", status.Convert(err).Message())
	}
	f := env.rec.all()
	if len(f) != 1 || f[0].Reason != audit.ReasonVerifierUnavailable {
		t.Fatalf("recorded %+v", f)
	}
	// The outage is not cached: once the registry is back, the key works.
	env.verifier.setErr(nil)
	if _, err := env.client.UnaryCall(withMD("x-api-key", raw), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

// brokenAuthenticator returns neither an AuthError nor a principal.
type brokenAuthenticator struct{ err error }

func (brokenAuthenticator) Kind() authv1.CredentialKind {
	return authv1.CredentialKind_CREDENTIAL_KIND_JWT
}
func (b brokenAuthenticator) Authenticate(context.Context, string) (*Principal, error) {
	return nil, b.err
}

func TestAuthenticatorContract(t *testing.T) {
	tests := []struct {
		name     string
		auth     Authenticator
		wantCode codes.Code
	}{
		{name: "plain error is Unavailable", auth: brokenAuthenticator{err: errOutage}, wantCode: codes.Unavailable},
		{name: "nil principal and nil error is Unavailable", auth: brokenAuthenticator{}, wantCode: codes.Unavailable},
		{name: "auth error is kept", auth: brokenAuthenticator{err: NewInvalidCredential(audit.ReasonMalformedCredential, "", "bad")}, wantCode: codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			v := NewValidator(testRules(t), WithAuthenticator(tt.auth), WithRecorder(rec), WithLogger(discardLogger()))
			md := metadata.Pairs("authorization", "Bearer abc")
			_, err := v.Authorize(context.Background(), testgrpc.TestService_UnaryCall_FullMethodName, md, "192.0.2.7")
			if status.Code(err) != tt.wantCode {
				t.Fatalf("code = %v, want %v", status.Code(err), tt.wantCode)
			}
			if f := rec.all(); len(f) != 1 || f[0].Remote != "192.0.2.7" {
				t.Fatalf("recorded %+v", f)
			}
		})
	}
}

func TestCanceledCallerIsNotAnAuthFailure(t *testing.T) {
	f := newFakeVerifier()
	f.gate = make(chan struct{})
	f.entered = make(chan struct{}, 1)
	raw, _ := f.add(t, accepted("client-a", 0, "things:read"))
	rec := &fakeRecorder{}
	v := NewValidator(testRules(t), WithAuthenticator(NewAPIKeyAuthenticator(f)), WithRecorder(rec))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-f.entered; cancel() }()
	_, err := v.Authorize(ctx, testgrpc.TestService_UnaryCall_FullMethodName, metadata.Pairs("x-api-key", raw), "")
	if status.Code(err) != codes.Canceled {
		t.Fatalf("code = %v, want Canceled", status.Code(err))
	}
	if len(rec.all()) != 0 {
		t.Fatalf("recorded %+v", rec.all())
	}
}

func TestTrustedForwarder(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	loopback := func(a net.Addr) bool {
		ta, ok := a.(*net.TCPAddr)
		return ok && ta.IP.IsLoopback()
	}
	tests := []struct {
		name       string
		opts       []Option
		xff        []string
		wantRemote string
	}{
		{name: "untrusted peer: header ignored", xff: []string{"203.0.113.9"}, wantRemote: "127.0.0.1"},
		{name: "trusted peer: rightmost entry", opts: []Option{WithTrustedForwarder(loopback)}, xff: []string{"6.6.6.6, 203.0.113.9"}, wantRemote: "203.0.113.9"},
		{name: "trusted peer without header", opts: []Option{WithTrustedForwarder(loopback)}, wantRemote: "127.0.0.1"},
		{name: "peer not matched by the predicate", opts: []Option{WithTrustedForwarder(func(net.Addr) bool { return false })}, xff: []string{"203.0.113.9"}, wantRemote: "127.0.0.1"},
		{name: "trusted proxy: rightmost untrusted entry", opts: []Option{WithTrustedProxies(proxies...)}, xff: []string{"6.6.6.6, 198.51.100.7", "10.0.0.5"}, wantRemote: "198.51.100.7"},
		{name: "trusted proxy writing host:port", opts: []Option{WithTrustedProxies(proxies...)}, xff: []string{"[2001:db8::7]:4444"}, wantRemote: "2001:db8::7"},
		{name: "every entry a trusted proxy", opts: []Option{WithTrustedProxies(proxies...)}, xff: []string{"10.0.0.5, 10.0.0.6"}, wantRemote: "127.0.0.1"},
		{name: "peer not a trusted proxy", opts: []Option{WithTrustedProxies(netip.MustParsePrefix("10.0.0.0/8"))}, xff: []string{"203.0.113.9"}, wantRemote: "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, testRules(t), tt.opts...)
			var pairs []string
			for _, x := range tt.xff {
				pairs = append(pairs, "x-forwarded-for", x)
			}
			_, err := env.client.UnaryCall(withMD(pairs...), &testgrpc.SimpleRequest{})
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("%v", err)
			}
			if f := env.rec.all(); len(f) != 1 || f[0].Remote != tt.wantRemote {
				t.Fatalf("recorded %+v, want remote %q", f, tt.wantRemote)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/48")}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct caller, forged header", "203.0.113.9:5000", []string{"6.6.6.6"}, "203.0.113.9"},
		{"through a proxy", "192.0.2.10:443", []string{"6.6.6.6, 203.0.113.9"}, "203.0.113.9"},
		{"through two proxies", "192.0.2.10:443", []string{"203.0.113.9, 192.0.2.11"}, "203.0.113.9"},
		{"v6 proxy, v4-mapped client", "[2001:db8:1::1]:443", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"proxy without a header", "192.0.2.10:443", nil, "192.0.2.10"},
		{"no proxies configured", "203.0.113.9:5000", []string{"6.6.6.6"}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, x := range tt.xff {
				r.Header.Add("X-Forwarded-For", x)
			}
			p := proxies
			if tt.name == "no proxies configured" {
				p = nil
			}
			if got := ClientIP(r, p); got != tt.want {
				t.Fatalf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefaultRecorderLogs(t *testing.T) {
	var sb strings.Builder
	v := NewValidator(testRules(t), WithLogger(newJSONLogger(&sb)), WithService("svc"))
	_, err := v.Authorize(context.Background(), "/grpc.testing.TestService/UnaryCall", metadata.MD{}, "198.51.100.1")
	if status.Code(err) != codes.Unauthenticated {
		t.Fatal(err)
	}
	for _, want := range []string{`"event":"auth_failure"`, `"reason":"missing_credential"`, `"remote":"198.51.100.1"`, `"service":"svc"`} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("log %s lacks %s", sb.String(), want)
		}
	}
}
