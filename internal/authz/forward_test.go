package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
)

// keys is an API-key authenticator over a fixed table: the decisions under
// test are the validator's, whatever checks the key.
type keys map[string]*authn.Principal

func (keys) Kind() authv1.CredentialKind { return authv1.CredentialKind_CREDENTIAL_KIND_API_KEY }

func (k keys) Authenticate(_ context.Context, cred string) (*authn.Principal, error) {
	if p, ok := k[cred]; ok {
		return p, nil
	}
	return nil, authn.NewInvalidCredential(audit.ReasonUnknownAPIKey, "", "unknown API key")
}

// tokens is a bearer-token authenticator over a fixed table, for
// principals a JWT would give (one bound to a certificate, RFC 8705).
type tokens map[string]*authn.Principal

func (tokens) Kind() authv1.CredentialKind { return authv1.CredentialKind_CREDENTIAL_KIND_JWT }

func (k tokens) Authenticate(_ context.Context, cred string) (*authn.Principal, error) {
	if p, ok := k[cred]; ok {
		return p, nil
	}
	return nil, authn.NewInvalidCredential(audit.ReasonInvalidToken, "", "invalid token")
}

// revocations says the listed clients are revoked, or that the list is
// stale.
type revocations struct {
	mu      sync.Mutex
	revoked map[string]bool
	stale   bool
}

func (r *revocations) CheckPrincipal(_ context.Context, p *authn.Principal) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stale {
		return false, errors.New("revocation list stale")
	}
	return r.revoked[p.ClientID], nil
}

type recorder struct {
	mu       sync.Mutex
	failures []audit.Failure
}

func (r *recorder) RecordFailure(_ context.Context, f audit.Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, f)
}

func (r *recorder) last() audit.Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) == 0 {
		return audit.Failure{}
	}
	return r.failures[len(r.failures)-1]
}

type fixture struct {
	boundCert, otherCert *x509.Certificate

	srv  *httptest.Server
	revs *revocations
	rec  *recorder
	a    *Authorizer
	path string
}

func newFixture(t *testing.T, proxies ...netip.Prefix) *fixture {
	t.Helper()
	f := &fixture{revs: &revocations{revoked: map[string]bool{}}, rec: &recorder{}}
	f.path = filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(f.path, []byte(testRoutes), 0o600); err != nil {
		t.Fatal(err)
	}
	ks := keys{
		"reader": {ClientID: "c-reader", Subject: "c-reader", Kind: authv1.CredentialKind_CREDENTIAL_KIND_API_KEY, Scopes: []string{"orders:read"}, RateLimitTier: "t"},
		"admin":  {ClientID: "c-admin", Subject: "c-admin", Kind: authv1.CredentialKind_CREDENTIAL_KIND_API_KEY, Scopes: []string{"orders:admin", "admin"}, RateLimitTier: "t"},
		"slow":   {ClientID: "c-slow", Subject: "c-slow", Kind: authv1.CredentialKind_CREDENTIAL_KIND_API_KEY, Scopes: []string{"orders:read"}, RateLimitTier: "one"},
	}
	f.boundCert, f.otherCert = selfSigned(t, "bound"), selfSigned(t, "other")
	toks := tokens{"bound": {ClientID: "c-bound", Subject: "c-bound", Kind: authv1.CredentialKind_CREDENTIAL_KIND_JWT,
		Scopes: []string{"orders:read"}, RateLimitTier: "t", Trust: authn.TrustBearer, CertThumbprint: authn.CertThumbprint(f.boundCert)}}
	v := authn.NewValidator(nil,
		authn.WithAuthenticator(ks),
		authn.WithAuthenticator(toks),
		authn.WithRevocationChecker(f.revs),
		authn.WithRecorder(f.rec),
		authn.WithRateLimiter(ratelimit.New(map[string]ratelimit.Tier{"t": {Rate: 1000, Burst: 1000}, "one": {Rate: 0.001, Burst: 1}})),
		authn.WithRealm("gw"))
	a, err := New(v, f.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.a = a
	if len(proxies) == 0 {
		proxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	f.srv = httptest.NewServer(ForwardAuth(a, proxies, "", nil))
	t.Cleanup(f.srv.Close)
	return f
}

// answer is what the gateway gets back.
type answer struct {
	StatusCode int
	Header     http.Header
}

func (f *fixture) ask(t *testing.T, method, uri, host string, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+ForwardAuthPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-Method", method)
	req.Header.Set("X-Forwarded-Uri", uri)
	if host != "" {
		req.Header.Set("X-Forwarded-Host", host)
	}
	for k, v := range hdr {
		req.Header.Add(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return answer{StatusCode: resp.StatusCode, Header: resp.Header}
}

func TestForwardAuthDecisions(t *testing.T) {
	f := newFixture(t)
	f.revs.revoked["c-admin"] = false
	tests := []struct {
		name              string
		method, uri, host string
		hdr               map[string]string
		status            int
		challenge         string
		subject, scopes   string
		reason            audit.Reason
	}{
		{name: "api key with scope", method: "GET", uri: "/orders/7", hdr: map[string]string{"X-API-Key": "reader"},
			status: 200, subject: "c-reader", scopes: "orders:read"},
		{name: "ApiKey scheme", method: "GET", uri: "/orders/7?x=1", hdr: map[string]string{"Authorization": "ApiKey reader"},
			status: 200, subject: "c-reader", scopes: "orders:read"},
		{name: "alternative scope", method: "POST", uri: "/orders", hdr: map[string]string{"X-API-Key": "admin"},
			status: 200, subject: "c-admin", scopes: "orders:admin admin"},
		{name: "public route", method: "GET", uri: "/health", status: 200},
		{name: "no credential", method: "GET", uri: "/orders/7",
			status: 401, challenge: `Bearer realm="gw"`, reason: audit.ReasonMissingCredential},
		{name: "query token only counts as none", method: "GET", uri: "/orders/7?access_token=reader",
			status: 401, challenge: `Bearer realm="gw"`, reason: audit.ReasonMissingCredential},
		{name: "unknown key", method: "GET", uri: "/orders/7", hdr: map[string]string{"X-API-Key": "nope"},
			status: 401, challenge: `Bearer realm="gw", error="invalid_token"`, reason: audit.ReasonUnknownAPIKey},
		{name: "wrong scope", method: "POST", uri: "/orders", hdr: map[string]string{"X-API-Key": "reader"},
			status: 403, challenge: `Bearer realm="gw", error="insufficient_scope", scope="orders:write"`, reason: audit.ReasonInsufficientScope},
		{name: "unmatched route", method: "GET", uri: "/nowhere", hdr: map[string]string{"X-API-Key": "admin"},
			status: 403, reason: audit.ReasonNoAuthRule},
		{name: "wrong host", method: "GET", uri: "/admin/x", host: "api.example.com", hdr: map[string]string{"X-API-Key": "admin"},
			status: 403, reason: audit.ReasonNoAuthRule},
		{name: "right host", method: "GET", uri: "/admin/x", host: "Admin.Example.com:443", hdr: map[string]string{"X-API-Key": "admin"},
			status: 200, subject: "c-admin", scopes: "orders:admin admin"},
		{name: "two credentials", method: "GET", uri: "/orders/7", hdr: map[string]string{"X-API-Key": "reader", "Authorization": "Bearer x"},
			status: 400, challenge: `Bearer realm="gw", error="invalid_request"`, reason: audit.ReasonMultipleCredentials},
		{name: "header and query token", method: "GET", uri: "/orders/7?access_token=x", hdr: map[string]string{"X-API-Key": "reader"},
			status: 400, challenge: `Bearer realm="gw", error="invalid_request"`, reason: audit.ReasonMultipleCredentials},
		{name: "dot segments", method: "GET", uri: "/orders/../admin/x", hdr: map[string]string{"X-API-Key": "admin"}, status: 400},
		{name: "no method", method: "", uri: "/orders/7", hdr: map[string]string{"X-API-Key": "reader"}, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.rec.last()
			resp := f.ask(t, tt.method, tt.uri, tt.host, tt.hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("WWW-Authenticate"); tt.challenge != "" && !strings.HasPrefix(got, tt.challenge) {
				t.Errorf("WWW-Authenticate %q, want prefix %q", got, tt.challenge)
			}
			if got := resp.Header.Get(HeaderSubject); got != tt.subject {
				t.Errorf("subject header %q, want %q", got, tt.subject)
			}
			if got := resp.Header.Get(HeaderScopes); got != tt.scopes {
				t.Errorf("scopes header %q, want %q", got, tt.scopes)
			}
			if tt.status == 200 && tt.subject != "" && resp.Header.Get(HeaderCredentialKind) != "api_key" {
				t.Errorf("credential kind %q", resp.Header.Get(HeaderCredentialKind))
			}
			if tt.status != 200 && resp.Header.Get(HeaderClientID) != "" {
				t.Errorf("a refusal carries an identity")
			}
			if tt.reason != "" {
				got := f.rec.last()
				if got.Reason != tt.reason || got == before {
					t.Errorf("recorded %+v, want reason %s", got, tt.reason)
				}
				if got.Remote != "127.0.0.1" {
					t.Errorf("recorded remote %q", got.Remote)
				}
			}
		})
	}
}

func TestForwardAuthRevocationAndLimits(t *testing.T) {
	f := newFixture(t)
	key := map[string]string{"X-API-Key": "reader"}
	if resp := f.ask(t, "GET", "/orders/1", "", key); resp.StatusCode != 200 {
		t.Fatalf("before revocation: %d", resp.StatusCode)
	}
	f.revs.mu.Lock()
	f.revs.revoked["c-reader"] = true
	f.revs.mu.Unlock()
	resp := f.ask(t, "GET", "/orders/1", "", key)
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("revoked: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	f.revs.mu.Lock()
	f.revs.stale = true
	f.revs.mu.Unlock()
	resp = f.ask(t, "GET", "/orders/1", "", map[string]string{"X-API-Key": "admin"})
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("stale list: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if f.rec.last().Reason != audit.ReasonRevocationListStale {
		t.Fatalf("recorded %+v", f.rec.last())
	}
	f.revs.mu.Lock()
	f.revs.stale = false
	f.revs.mu.Unlock()
	slow := map[string]string{"X-API-Key": "slow"}
	if resp := f.ask(t, "GET", "/orders/1", "", slow); resp.StatusCode != 200 {
		t.Fatalf("first of a burst of 1: %d", resp.StatusCode)
	}
	resp = f.ask(t, "GET", "/orders/1", "", slow)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the budget: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestForwardAuthRefusesUntrustedCallers(t *testing.T) {
	f := newFixture(t, netip.MustParsePrefix("192.0.2.0/24"))
	resp := f.ask(t, "GET", "/health", "", nil)
	if resp.StatusCode != 403 || resp.Header.Get(HeaderSubject) != "" {
		t.Fatalf("untrusted caller: %d", resp.StatusCode)
	}
}

func TestReload(t *testing.T) {
	f := newFixture(t)
	key := map[string]string{"X-API-Key": "reader"}
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(f.path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A bad file keeps the rules in force.
	write("routes:\n  - methods: [GET]\n    path: /orders/{id}\n")
	if err := f.a.Reload(); err == nil || !strings.Contains(err.Error(), f.path+":2: no scopes") {
		t.Fatalf("bad reload: %v", err)
	}
	if resp := f.ask(t, "GET", "/orders/1", "", key); resp.StatusCode != 200 {
		t.Fatalf("after a bad reload: %d", resp.StatusCode)
	}
	// A good one takes effect on the signal.
	write("routes:\n  - methods: [GET]\n    path: /orders/{id}\n    scopes: [orders:write]\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() { f.a.Watch(ctx, hup, time.Hour); close(done) }()
	hup <- syscall.SIGHUP
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp := f.ask(t, "GET", "/orders/1", "", key)
		if resp.StatusCode == 403 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rules not reloaded on SIGHUP: %d", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestReloadOnFileChange(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.a.Watch(ctx, nil, 20*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	// A different size, so the change shows whatever the clock's grain.
	if err := os.WriteFile(f.path, []byte("routes:\n  - methods: [GET]\n    path: /health\n    scopes: [health:read]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.ask(t, "GET", "/health", "", nil).StatusCode != 401 {
		if time.Now().After(deadline) {
			t.Fatal("rules not reloaded on a file change")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func selfSigned(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func escapedPEM(c *x509.Certificate) string {
	return url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
}

// TestForwardAuthClientCertificate: a certificate-bound token is allowed
// only with the certificate the gateway states in the configured header,
// in the formats gateways write, and never from a header the authorizer
// was not told to read.
func TestForwardAuthClientCertificate(t *testing.T) {
	f := newFixture(t)
	withHeader := httptest.NewServer(ForwardAuth(f.a, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "X-SSL-Client-Cert", nil))
	defer withHeader.Close()
	xfcc := httptest.NewServer(ForwardAuth(f.a, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "X-Forwarded-Client-Cert", nil))
	defer xfcc.Close()
	bound := "Bearer bound"
	tests := []struct {
		name      string
		srv       *httptest.Server
		cert      map[string]string
		status    int
		challenge string
	}{
		{"bound certificate, URL-encoded PEM", withHeader, map[string]string{"X-SSL-Client-Cert": escapedPEM(f.boundCert)}, 200, ""},
		{"PEM flattened onto one line is not read", withHeader, map[string]string{"X-SSL-Client-Cert": strings.ReplaceAll(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.boundCert.Raw})), "\n", " ")}, 400, ""},
		{"bound certificate, base64 DER", withHeader, map[string]string{"X-SSL-Client-Cert": base64.StdEncoding.EncodeToString(f.boundCert.Raw)}, 200, ""},
		{"bound certificate, x-forwarded-client-cert", xfcc, map[string]string{"X-Forwarded-Client-Cert": `By=spiffe://a;Hash=x,By=spiffe://b;Hash=y;Cert="` + escapedPEM(f.boundCert) + `"`}, 200, ""},
		{"another certificate", withHeader, map[string]string{"X-SSL-Client-Cert": escapedPEM(f.otherCert)}, 401, `error="invalid_token"`},
		{"no certificate", withHeader, nil, 401, `error="invalid_token"`},
		{"garbage", withHeader, map[string]string{"X-SSL-Client-Cert": "%%%"}, 400, ""},
		{"header not configured", f.srv, map[string]string{"X-SSL-Client-Cert": escapedPEM(f.boundCert)}, 401, `error="invalid_token"`},
		{"gatehouse metadata names are not read", f.srv, map[string]string{
			authn.MetadataClientCertThumbprint: authn.CertThumbprint(f.boundCert),
			authn.MetadataClientCert:           base64.RawURLEncoding.EncodeToString(f.boundCert.Raw),
		}, 401, `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &fixture{srv: tt.srv}
			hdr := map[string]string{"Authorization": bound}
			for k, v := range tt.cert {
				hdr[k] = v
			}
			resp := g.ask(t, "GET", "/orders/1", "", hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if !strings.Contains(resp.Header.Get("WWW-Authenticate"), tt.challenge) {
				t.Errorf("WWW-Authenticate %q, want %q", resp.Header.Get("WWW-Authenticate"), tt.challenge)
			}
			if tt.status == 200 && resp.Header.Get(HeaderSubject) != "c-bound" {
				t.Errorf("subject %q", resp.Header.Get(HeaderSubject))
			}
		})
	}
}

// TestAudienceRoutes: a route naming an audience checks bearer tokens
// with that audience's authenticator, made once and kept across reloads;
// without WithAudiences such a file does not load.
func TestAudienceRoutes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.yaml")
	doc := testRoutes + "  - methods: [GET]\n    path: /billing/**\n    scopes: [orders:read]\n    audience: https://billing\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	reader := &authn.Principal{ClientID: "c-bill", Subject: "c-bill", Kind: authv1.CredentialKind_CREDENTIAL_KIND_JWT, Scopes: []string{"orders:read"}}
	def := tokens{"default-aud": reader}
	made := map[string]int{}
	stopped := 0
	f := func(aud string) (authn.Authenticator, func(), error) {
		made[aud]++
		return tokens{"billing-aud": reader}, func() { stopped++ }, nil
	}
	v := authn.NewValidator(nil, authn.WithAuthenticator(def), authn.WithRecorder(&recorder{}))
	if _, err := New(v, path, nil); err == nil || !strings.Contains(err.Error(), `audience "https://billing"`) {
		t.Fatalf("without WithAudiences: %v", err)
	}
	a, err := New(v, path, nil, WithAudiences(f))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		uri, token string
		ok         bool
	}{
		{"/billing/invoices", "billing-aud", true},
		{"/billing/invoices", "default-aud", false},
		{"/orders/1", "default-aud", true},
		{"/orders/1", "billing-aud", false},
	}
	for _, tt := range tests {
		_, err := a.Check(context.Background(), Request{Method: "GET", URI: tt.uri, Authorization: []string{"Bearer " + tt.token}})
		if (err == nil) != tt.ok {
			t.Errorf("%s with %s: %v, want ok=%v", tt.uri, tt.token, err, tt.ok)
		}
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if made["https://billing"] != 1 || stopped != 1 {
		t.Fatalf("authenticators made %v, stopped %d; want one, stopped once", made, stopped)
	}
}
