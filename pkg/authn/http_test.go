package authn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestGatewayErrorHandler(t *testing.T) {
	tests := []struct {
		name            string
		realm           string
		err             error
		wantStatus      int
		wantChallenge   string // "" means no WWW-Authenticate header
		wantRetryAfter  string
		wantBodyMessage string
	}{
		{
			name:            "no credential",
			err:             errMissingCredential(),
			wantStatus:      401,
			wantChallenge:   `Bearer realm="gatehouse"`,
			wantBodyMessage: "credential required",
		},
		{
			name:          "unsupported scheme has no error code",
			err:           errUnsupportedCredential("unsupported authorization scheme"),
			wantStatus:    401,
			wantChallenge: `Bearer realm="gatehouse"`,
		},
		{
			name:          "invalid token",
			err:           NewInvalidCredential(audit.ReasonRevokedAPIKey, "c", "API key revoked"),
			wantStatus:    401,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_token", error_description="API key revoked"`,
		},
		{
			name:          "description is restricted to the RFC 6750 characters",
			err:           NewInvalidCredential(audit.ReasonMalformedCredential, "", "bad \"token\"\\\r\n\tvalue é"),
			wantStatus:    401,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_token", error_description="bad tokenvalue "`,
		},
		{
			name:          "custom realm",
			realm:         `api"prod`,
			err:           errMissingCredential(),
			wantStatus:    401,
			wantChallenge: `Bearer realm="apiprod"`,
		},
		{
			name:          "insufficient scope",
			err:           errInsufficientScope(&Principal{Scopes: []string{"a"}}, mustRule(t, &authv1.AuthRule{Scopes: []string{"a", "b", "c"}}), 0),
			wantStatus:    403,
			wantChallenge: `Bearer realm="gatehouse", error="insufficient_scope", scope="a b c"`,
		},
		{
			name:          "credential kind not allowed",
			err:           &AuthError{Code: codes.PermissionDenied, Reason: audit.ReasonCredentialKindNotAllowed, Message: "credential kind not accepted for this method", OAuthError: ErrInsufficientScope},
			wantStatus:    403,
			wantChallenge: `Bearer realm="gatehouse", error="insufficient_scope"`,
		},
		{
			name:       "no auth rule has no challenge",
			err:        errNoAuthRule(),
			wantStatus: 403,
		},
		{
			name:          "two credentials",
			err:           errMultipleCredentials(),
			wantStatus:    400,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_request"`,
		},
		{
			name:           "rate limited rounds up",
			err:            &AuthError{Code: codes.ResourceExhausted, Reason: audit.ReasonRateLimited, Message: "rate limit exceeded", RetryAfter: 1500 * time.Millisecond},
			wantStatus:     429,
			wantRetryAfter: "2",
		},
		{
			name:           "rate limited at least one second",
			err:            &AuthError{Code: codes.ResourceExhausted, Reason: audit.ReasonRateLimited, Message: "rate limit exceeded", RetryAfter: 20 * time.Millisecond},
			wantStatus:     429,
			wantRetryAfter: "1",
		},
		{
			name:            "outage",
			err:             NewUnavailable(errOutage),
			wantStatus:      503,
			wantBodyMessage: "credential verification is temporarily unavailable",
		},
		{
			name:            "foreign Unauthenticated never copies its message into the header",
			err:             status.Error(codes.Unauthenticated, `token eyJ"secret" is bad`),
			wantStatus:      401,
			wantChallenge:   `Bearer realm="gatehouse"`,
			wantBodyMessage: `token eyJ"secret" is bad`,
		},
		{
			name:       "not an auth error",
			err:        status.Error(codes.NotFound, "client not found"),
			wantStatus: 404,
		},
		{
			name:       "invalid argument that is not about credentials",
			err:        status.Error(codes.InvalidArgument, "page_size out of range"),
			wantStatus: 400,
		},
		{
			name:       "routing error",
			err:        &runtime.HTTPStatusError{HTTPStatus: http.StatusMethodNotAllowed, Err: status.Error(codes.Unimplemented, "Method Not Allowed")},
			wantStatus: 405,
		},
		{
			name:       "plain error",
			err:        errors.New("boom"),
			wantStatus: 500,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			realm := tt.realm
			if realm == "" {
				realm = "gatehouse"
			}
			mux := runtime.NewServeMux()
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/v1/things", nil)
			GatewayErrorHandler(realm)(context.Background(), mux, &runtime.JSONPb{}, w, r, tt.err)
			checkErrorResponse(t, w, tt.wantStatus, tt.wantChallenge, tt.wantRetryAfter, tt.wantBodyMessage)
		})
	}
}

func checkErrorResponse(t *testing.T, w *httptest.ResponseRecorder, wantStatus int, wantChallenge, wantRetryAfter, wantMessage string) {
	t.Helper()
	if w.Code != wantStatus {
		t.Errorf("status = %d, want %d", w.Code, wantStatus)
	}
	if got := w.Header().Values("WWW-Authenticate"); wantChallenge == "" && len(got) != 0 || wantChallenge != "" && (len(got) != 1 || got[0] != wantChallenge) {
		t.Errorf("WWW-Authenticate = %q, want %q", got, wantChallenge)
	}
	if got := w.Header().Get("Retry-After"); got != wantRetryAfter {
		t.Errorf("Retry-After = %q, want %q", got, wantRetryAfter)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var body struct {
		Code    int               `json:"code"`
		Message string            `json:"message"`
		Details []json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	if wantMessage != "" && body.Message != wantMessage {
		t.Errorf("body message = %q, want %q", body.Message, wantMessage)
	}
	if body.Code == 0 {
		t.Errorf("body has no code: %s", w.Body.String())
	}
}

func mustRule(t *testing.T, r *authv1.AuthRule) *rule {
	t.Helper()
	ru, err := compileRule(r)
	if err != nil {
		t.Fatal(err)
	}
	return ru
}

func TestGatewayIncomingHeaderMatcher(t *testing.T) {
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{header: "X-API-Key", want: "x-api-key", ok: true},
		{header: "x-api-key", want: "x-api-key", ok: true},
		{header: "X-Api-Key", want: "x-api-key", ok: true},
		{header: "Authorization", want: "grpcgateway-Authorization", ok: true},
		{header: "User-Agent", want: "grpcgateway-User-Agent", ok: true},
		{header: "Grpc-Metadata-X-Api-Key", ok: false},
		{header: "X-Custom", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, ok := GatewayIncomingHeaderMatcher(tt.header)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("= %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestHTTPMiddleware(t *testing.T) {
	type req struct {
		query   string
		headers map[string][]string
		form    string
	}
	tests := []struct {
		name          string
		rule          *authv1.AuthRule
		req           func(good string) req
		wantStatus    int
		wantChallenge string
		wantAudit     audit.Reason
		wantCalls     int
	}{
		{
			name:       "good key",
			req:        func(good string) req { return req{headers: map[string][]string{"X-Api-Key": {good}}} },
			wantStatus: 200,
			wantCalls:  1,
		},
		{
			name:       "good key as lower-case bearer",
			req:        func(good string) req { return req{headers: map[string][]string{"Authorization": {"bearer " + good}}} },
			wantStatus: 200,
			wantCalls:  1,
		},
		{
			name:          "no credential",
			req:           func(string) req { return req{} },
			wantStatus:    401,
			wantChallenge: `Bearer realm="gatehouse"`,
			wantAudit:     audit.ReasonMissingCredential,
		},
		{
			name:          "query access_token is not a credential",
			req:           func(good string) req { return req{query: "access_token=" + good} },
			wantStatus:    401,
			wantChallenge: `Bearer realm="gatehouse"`,
			wantAudit:     audit.ReasonMissingCredential,
		},
		{
			name:          "form access_token is not a credential",
			req:           func(good string) req { return req{form: "access_token=" + good} },
			wantStatus:    401,
			wantChallenge: `Bearer realm="gatehouse"`,
			wantAudit:     audit.ReasonMissingCredential,
		},
		{
			name: "header and query access_token",
			req: func(good string) req {
				return req{query: "x=1&access_token=abc", headers: map[string][]string{"Authorization": {"ApiKey " + good}}}
			},
			wantStatus:    400,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_request"`,
			wantAudit:     audit.ReasonMultipleCredentials,
		},
		{
			name: "header and percent-encoded query access_token",
			req: func(good string) req {
				return req{query: "access%5Ftoken=abc", headers: map[string][]string{"X-Api-Key": {good}}}
			},
			wantStatus:    400,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_request"`,
			wantAudit:     audit.ReasonMultipleCredentials,
		},
		{
			name: "header and form access_token",
			req: func(good string) req {
				return req{form: "a=b&access_token=abc", headers: map[string][]string{"X-Api-Key": {good}}}
			},
			wantStatus:    400,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_request"`,
			wantAudit:     audit.ReasonMultipleCredentials,
		},
		{
			name:       "header and an unrelated form body",
			req:        func(good string) req { return req{form: "a=b", headers: map[string][]string{"X-Api-Key": {good}}} },
			wantStatus: 200,
			wantCalls:  1,
		},
		{
			name: "two authorization headers",
			req: func(good string) req {
				return req{headers: map[string][]string{"Authorization": {"ApiKey " + good, "ApiKey " + good}}}
			},
			wantStatus:    400,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_request"`,
			wantAudit:     audit.ReasonMultipleCredentials,
		},
		{
			name: "authorization and x-api-key",
			req: func(good string) req {
				return req{headers: map[string][]string{"Authorization": {"ApiKey " + good}, "X-Api-Key": {good}}}
			},
			wantStatus:    400,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_request"`,
			wantAudit:     audit.ReasonMultipleCredentials,
		},
		{
			name:          "bearer without token",
			req:           func(string) req { return req{headers: map[string][]string{"Authorization": {"Bearer"}}} },
			wantStatus:    401,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_token", error_description="malformed credential"`,
			wantAudit:     audit.ReasonMalformedCredential,
		},
		{
			name:          "bearer a b",
			req:           func(string) req { return req{headers: map[string][]string{"Authorization": {"Bearer a b"}}} },
			wantStatus:    401,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_token", error_description="malformed credential"`,
			wantAudit:     audit.ReasonMalformedCredential,
		},
		{
			name:          "basic",
			req:           func(string) req { return req{headers: map[string][]string{"Authorization": {"Basic dXNlcjpwYXNz"}}} },
			wantStatus:    401,
			wantChallenge: `Bearer realm="gatehouse"`,
			wantAudit:     audit.ReasonUnsupportedCredential,
		},
		{
			name:          "jwt without a jwt authenticator",
			req:           func(string) req { return req{headers: map[string][]string{"Authorization": {"Bearer abc.def.ghi"}}} },
			wantStatus:    401,
			wantChallenge: `Bearer realm="gatehouse"`,
			wantAudit:     audit.ReasonUnsupportedCredential,
		},
		{
			name: "oversized header",
			req: func(string) req {
				return req{headers: map[string][]string{"Authorization": {"Bearer " + strings.Repeat("a", 5000)}}}
			},
			wantStatus:    401,
			wantChallenge: `Bearer realm="gatehouse", error="invalid_token", error_description="credential too large"`,
			wantAudit:     audit.ReasonCredentialTooLarge,
		},
		{
			name:          "missing scope",
			rule:          &authv1.AuthRule{Scopes: []string{"things:read", "things:write"}},
			req:           func(good string) req { return req{headers: map[string][]string{"X-Api-Key": {good}}} },
			wantStatus:    403,
			wantChallenge: `Bearer realm="gatehouse", error="insufficient_scope", scope="things:read things:write"`,
			wantAudit:     audit.ReasonInsufficientScope,
			wantCalls:     1,
		},
		{
			name:       "public rule",
			rule:       &authv1.AuthRule{Public: true},
			req:        func(string) req { return req{query: "access_token=x"} },
			wantStatus: 200,
		},
		{
			name:       "nil rule refuses",
			rule:       nil,
			req:        func(good string) req { return req{headers: map[string][]string{"X-Api-Key": {good}}} },
			wantStatus: 403,
			wantAudit:  audit.ReasonNoAuthRule,
		},
		{
			name:       "invalid rule refuses",
			rule:       &authv1.AuthRule{Public: true, Scopes: []string{"x"}},
			req:        func(string) req { return req{} },
			wantStatus: 403,
			wantAudit:  audit.ReasonNoAuthRule,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeVerifier()
			good, _ := f.add(t, accepted("client-h", 0, "things:read"))
			rec := &fakeRecorder{}
			v := NewValidator(nil, WithAuthenticator(NewAPIKeyAuthenticator(f)), WithRecorder(rec), WithLogger(discardLogger()))
			rule := tt.rule
			if rule == nil && !strings.Contains(tt.name, "nil rule") {
				rule = &authv1.AuthRule{Scopes: []string{"things:read"}}
			}
			var gotBody string
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if rule.GetPublic() {
					if _, ok := FromContext(r.Context()); ok {
						t.Error("principal on a public route")
					}
				} else if p, ok := FromContext(r.Context()); !ok || p.ClientID != "client-h" {
					t.Errorf("principal = %+v", p)
				}
				b, _ := io.ReadAll(r.Body)
				gotBody = string(b)
				w.WriteHeader(http.StatusOK)
			})
			h := v.HTTPMiddleware(rule, next)

			rq := tt.req(good)
			target := "/v1/things"
			if rq.query != "" {
				target += "?" + rq.query
			}
			method, body := http.MethodGet, io.Reader(nil)
			if rq.form != "" {
				method, body = http.MethodPost, strings.NewReader(rq.form)
			}
			r := httptest.NewRequest(method, target, body)
			if rq.form != "" {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			for k, vs := range rq.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)

			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tt.wantStatus, w.Body.String())
			}
			if f.Calls() != tt.wantCalls {
				t.Errorf("verifier calls = %d, want %d", f.Calls(), tt.wantCalls)
			}
			failures := rec.all()
			if tt.wantStatus == 200 {
				if len(failures) != 0 {
					t.Errorf("recorded %+v", failures)
				}
				if gotBody != rq.form {
					t.Errorf("handler read body %q, want %q", gotBody, rq.form)
				}
				return
			}
			checkErrorResponse(t, w, tt.wantStatus, tt.wantChallenge, "", "")
			if len(failures) != 1 || failures[0].Reason != tt.wantAudit {
				t.Fatalf("recorded %+v, want one %s", failures, tt.wantAudit)
			}
			if failures[0].Method != method+" /v1/things" || failures[0].Remote != "192.0.2.1" {
				t.Errorf("recorded method/remote %q/%q", failures[0].Method, failures[0].Remote)
			}
			if strings.Contains(w.Body.String(), good) || strings.Contains(w.Header().Get("WWW-Authenticate"), good) {
				t.Error("response echoes the key")
			}
		})
	}
}

func TestHTTPMiddlewareRateLimit(t *testing.T) {
	f := newFakeVerifier()
	good, _ := f.add(t, accepted("client-h", 0, "s"))
	clk := newFakeClock()
	limiter := newTestLimiter(clk)
	v := NewValidator(nil, WithAuthenticator(NewAPIKeyAuthenticator(f)), WithRateLimiter(limiter), WithRecorder(&fakeRecorder{}))
	h := v.HTTPMiddleware(&authv1.AuthRule{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	do := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		r.Header.Set("X-API-Key", good)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do(); w.Code != 200 {
		t.Fatalf("first: %d", w.Code)
	}
	w := do()
	checkErrorResponse(t, w, 429, "", "3", "rate limit exceeded")
}

func TestGatewayPreflight(t *testing.T) {
	tests := []struct {
		name       string
		query      string
		headers    map[string][]string
		form       string
		wantStatus int
	}{
		{name: "one authorization", headers: map[string][]string{"Authorization": {"Bearer a"}}, wantStatus: 200},
		{name: "one x-api-key", headers: map[string][]string{"X-Api-Key": {"k"}}, wantStatus: 200},
		{name: "nothing", wantStatus: 200},
		{name: "query token alone passes on (the interceptor sees no credential)", query: "access_token=a", wantStatus: 200},
		{name: "two authorization", headers: map[string][]string{"Authorization": {"Bearer a", "Bearer b"}}, wantStatus: 400},
		{name: "authorization and x-api-key", headers: map[string][]string{"Authorization": {"Bearer a"}, "X-Api-Key": {"k"}}, wantStatus: 400},
		{name: "two x-api-key", headers: map[string][]string{"X-Api-Key": {"k", "k"}}, wantStatus: 400},
		{name: "authorization and query token", query: "access_token=a", headers: map[string][]string{"Authorization": {"Bearer a"}}, wantStatus: 400},
		{name: "x-api-key and form token", form: "access_token=a", headers: map[string][]string{"X-Api-Key": {"k"}}, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, withValidator := range []bool{false, true} {
				rec := &fakeRecorder{}
				next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
				var h http.Handler
				if withValidator {
					h = NewValidator(nil, WithRecorder(rec)).GatewayPreflight(next)
				} else {
					h = GatewayPreflight(next)
				}
				target := "/v1/clients"
				if tt.query != "" {
					target += "?" + tt.query
				}
				var r *http.Request
				if tt.form != "" {
					r = httptest.NewRequest(http.MethodPost, target, strings.NewReader(tt.form))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				} else {
					r = httptest.NewRequest(http.MethodGet, target, nil)
				}
				for k, vs := range tt.headers {
					for _, v := range vs {
						r.Header.Add(k, v)
					}
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != tt.wantStatus {
					t.Fatalf("validator=%v: status %d, want %d", withValidator, w.Code, tt.wantStatus)
				}
				if tt.wantStatus == 400 {
					checkErrorResponse(t, w, 400, `Bearer realm="gatehouse", error="invalid_request"`, "", "")
					if withValidator && (len(rec.all()) != 1 || rec.all()[0].Reason != audit.ReasonMultipleCredentials) {
						t.Fatalf("recorded %+v", rec.all())
					}
				}
			}
		})
	}
}

func TestBodyPeekLimits(t *testing.T) {
	tests := []struct {
		name string
		body string
		want bool
	}{
		{name: "small with token", body: "a=1&access_token=x", want: true},
		{name: "token after the peek window is not seen", body: "a=" + strings.Repeat("x", maxFormPeek) + "&access_token=x", want: false},
		{name: "token before a long tail", body: "access_token=x&b=" + strings.Repeat("y", maxFormPeek), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			if got := hasBodyOrQueryToken(r); got != tt.want {
				t.Fatalf("= %v, want %v", got, tt.want)
			}
			rest, _ := io.ReadAll(r.Body)
			if string(rest) != tt.body {
				t.Fatal("body not restored")
			}
			// ParseForm after the peek still sees every parameter.
			r2 := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			r2.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			hasBodyOrQueryToken(r2)
			if err := r2.ParseForm(); err != nil {
				t.Fatal(err)
			}
			want, _ := url.ParseQuery(tt.body)
			if len(r2.PostForm) != len(want) {
				t.Fatalf("PostForm has %d params, want %d", len(r2.PostForm), len(want))
			}
		})
	}
}
