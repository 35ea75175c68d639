package authn

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/apikey"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeVerifier answers from a table keyed by raw key and counts calls.
// Keys not in the table are unknown.
type fakeVerifier struct {
	mu    sync.Mutex
	keys  map[string]*clientsv1.VerifyAPIKeyResponse
	calls map[string]int
	total int
	err   error
	// gate, when set, blocks every call until it is closed; entered gets a
	// value when a call starts.
	gate    chan struct{}
	entered chan struct{}
}

func newFakeVerifier() *fakeVerifier {
	return &fakeVerifier{keys: map[string]*clientsv1.VerifyAPIKeyResponse{}, calls: map[string]int{}}
}

func (f *fakeVerifier) VerifyAPIKey(ctx context.Context, req *clientsv1.VerifyAPIKeyRequest) (*clientsv1.VerifyAPIKeyResponse, error) {
	f.mu.Lock()
	f.calls[req.GetApiKey()]++
	f.total++
	gate, entered, err := f.gate, f.entered, f.err
	resp := f.keys[req.GetApiKey()]
	f.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	if resp == nil {
		key, _ := apikey.Parse(req.GetApiKey())
		return &clientsv1.VerifyAPIKeyResponse{Failure: clientsv1.APIKeyFailure_API_KEY_FAILURE_UNKNOWN, KeyId: key.ID}, nil
	}
	return resp, nil
}

func (f *fakeVerifier) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

func (f *fakeVerifier) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// add registers a new random key with the given answer and returns it.
func (f *fakeVerifier) add(t testing.TB, resp *clientsv1.VerifyAPIKeyResponse) (raw, keyID string) {
	t.Helper()
	k, err := apikey.New()
	if err != nil {
		t.Fatal(err)
	}
	resp.KeyId = k.ID
	f.mu.Lock()
	f.keys[k.String()] = resp
	f.mu.Unlock()
	return k.String(), k.ID
}

func accepted(clientID string, tier clientsv1.RateLimitTier, scopes ...string) *clientsv1.VerifyAPIKeyResponse {
	return &clientsv1.VerifyAPIKeyResponse{ClientId: clientID, Scopes: scopes, RateLimitTier: tier}
}

func acceptedUntil(clientID string, exp time.Time, scopes ...string) *clientsv1.VerifyAPIKeyResponse {
	r := accepted(clientID, clientsv1.RateLimitTier_RATE_LIMIT_TIER_STANDARD, scopes...)
	r.ExpireTime = timestamppb.New(exp)
	return r
}

func refused(clientID string, f clientsv1.APIKeyFailure) *clientsv1.VerifyAPIKeyResponse {
	return &clientsv1.VerifyAPIKeyResponse{ClientId: clientID, Failure: f}
}

// unregisteredKey is a well-formed key the verifier does not know.
func unregisteredKey(t testing.TB) string {
	t.Helper()
	k, err := apikey.New()
	if err != nil {
		t.Fatal(err)
	}
	return k.String()
}

// badChecksumKey has the shape of a key but a wrong checksum.
func badChecksumKey(t testing.TB) string {
	raw := unregisteredKey(t)
	last := raw[len(raw)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return raw[:len(raw)-1] + string(repl)
}

// fakeRecorder keeps every recorded failure.
type fakeRecorder struct {
	mu       sync.Mutex
	failures []audit.Failure
}

func (r *fakeRecorder) RecordFailure(_ context.Context, f audit.Failure) {
	r.mu.Lock()
	r.failures = append(r.failures, f)
	r.mu.Unlock()
}

func (r *fakeRecorder) all() []audit.Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]audit.Failure(nil), r.failures...)
}

// errorInfo returns the gatehouse ErrorInfo and RetryInfo of err.
func errorInfo(err error) (*errdetails.ErrorInfo, *errdetails.RetryInfo) {
	var (
		info  *errdetails.ErrorInfo
		retry *errdetails.RetryInfo
	)
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.RetryInfo:
			retry = d
		}
	}
	return info, retry
}

// testRules is the rule set of the test service (grpc.testing.TestService):
// HalfDuplexCall and FullDuplexCall have no rule.
func testRules(t testing.TB) *Rules {
	t.Helper()
	jwtOrMTLS := []authv1.CredentialKind{authv1.CredentialKind_CREDENTIAL_KIND_JWT, authv1.CredentialKind_CREDENTIAL_KIND_MTLS}
	r, err := NewRules(map[string]*authv1.AuthRule{
		"/grpc.testing.TestService/EmptyCall":           {Public: true},
		"/grpc.testing.TestService/UnaryCall":           {Scopes: []string{"things:read"}},
		"/grpc.testing.TestService/CacheableUnaryCall":  {Scopes: []string{"things:read", "things:write", "things:admin"}},
		"/grpc.testing.TestService/StreamingOutputCall": {Scopes: []string{"things:read"}},
		"/grpc.testing.TestService/StreamingInputCall":  {Credentials: jwtOrMTLS},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var errOutage = errors.New("registry: connection refused")

func newJSONLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newTestLimiter has a standard tier of one request per 2.5 s, burst 1.
func newTestLimiter(clk *fakeClock) *ratelimit.Limiter {
	return ratelimit.New(map[string]ratelimit.Tier{"standard": {Rate: 0.4, Burst: 1}}, ratelimit.WithClock(clk.Now))
}
