package token_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	clientsql "github.com/gatehouse-dev/gatehouse/services/clients/sqlstore"
	"github.com/gatehouse-dev/gatehouse/services/token"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	grantsql "github.com/gatehouse-dev/gatehouse/services/token/grantstore/sqlstore"
)

const (
	defaultAudience = "https://api.gatehouse.test"
	ordersResource  = "https://api.example/orders"
	billingResource = "http://127.0.0.1:9000/billing"
)

// fakeClock is the clock of the service, the rate limiter and the test
// verifier; tests move it by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// countingClients is a spy: the real registry, with its VerifyClientSecret
// calls counted.
type countingClients struct {
	token.Clients
	verifies atomic.Int64
	gets     atomic.Int64
}

func (c *countingClients) GetClient(ctx context.Context, req *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error) {
	c.gets.Add(1)
	return c.Clients.GetClient(ctx, req)
}

func (c *countingClients) VerifyClientSecret(ctx context.Context, req *clientsv1.VerifyClientSecretRequest) (*clientsv1.VerifyClientSecretResponse, error) {
	c.verifies.Add(1)
	return c.Clients.VerifyClientSecret(ctx, req)
}

// auditSpy keeps every recorded failure.
type auditSpy struct {
	mu  sync.Mutex
	got []audit.Failure
}

func (a *auditSpy) RecordFailure(_ context.Context, f audit.Failure) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, f)
}

func (a *auditSpy) all() []audit.Failure {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Failure(nil), a.got...)
}

// fixedSigner is the Signer the key service stands for: one key in memory.
type fixedSigner struct{ key token.SigningKey }

func (s fixedSigner) SigningKey(context.Context) (token.SigningKey, error) { return s.key, nil }

// jwxVerifier is the test's Verifier: it checks a token with jwx against
// the public JWK of the test signing key (signature with ES256 only, typ
// at+jwt, iss, exp/nbf on the fake clock) and returns its claims. In
// production the lead adapts pkg/authn's JWT validator, configured to
// accept any audience, to token.Verifier.
type jwxVerifier struct {
	pub     jwk.Key
	issuer  string
	clock   *fakeClock
	revoked *memRevoker
}

func (v *jwxVerifier) VerifyAccessToken(_ context.Context, raw string) (token.Claims, error) {
	msg, err := jws.Parse([]byte(raw))
	if err != nil {
		return token.Claims{}, err
	}
	if len(msg.Signatures()) != 1 || msg.Signatures()[0].ProtectedHeaders().Type() != "at+jwt" {
		return token.Claims{}, errors.New("not an at+jwt")
	}
	t, err := jwt.Parse([]byte(raw), jwt.WithKey(jwa.ES256, v.pub), jwt.WithValidate(true),
		jwt.WithIssuer(v.issuer), jwt.WithClock(jwt.ClockFunc(v.clock.Now)), jwt.WithAcceptableSkew(0))
	if err != nil {
		return token.Claims{}, err
	}
	c := token.Claims{
		Issuer: t.Issuer(), Subject: t.Subject(), Audience: t.Audience(), JTI: t.JwtID(),
		IssuedAt: t.IssuedAt(), NotBefore: t.NotBefore(), Expiry: t.Expiration(),
	}
	if v, ok := t.Get("client_id"); ok {
		c.ClientID, _ = v.(string)
	}
	if v, ok := t.Get("scope"); ok {
		c.Scope, _ = v.(string)
	}
	if v, ok := t.Get("cnf"); ok {
		if m, ok := v.(map[string]any); ok {
			c.CertThumbprint, _ = m["x5t#S256"].(string)
			c.DPoPJKT, _ = m["jkt"].(string)
		}
	}
	// As pkg/authn's revocation list: by jti, and by the grant (fid) a
	// user grant's access token was issued from.
	fid, _ := t.Get(token.FamilyClaim)
	if fs, _ := fid.(string); v.revoked != nil && (v.revoked.has(c.JTI) || fs != "" && v.revoked.hasFamily(fs)) {
		return token.Claims{}, errors.New("revoked")
	}
	return c, nil
}

// memRevoker is the revocation list the tests stand up: it records every
// revocation, and fails while down is set.
type memRevoker struct {
	mu   sync.Mutex
	down bool
	got  []*revocationv1.RevokeRequest
}

func (m *memRevoker) Revoke(_ context.Context, req *revocationv1.RevokeRequest) (*revocationv1.RevokeResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errors.New("revocation service unavailable")
	}
	m.got = append(m.got, req)
	return &revocationv1.RevokeResponse{Entry: &revocationv1.Entry{Kind: req.GetKind(), Id: req.GetId()}}, nil
}

func (m *memRevoker) has(jti string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.got {
		if r.GetKind() == revocationv1.Kind_KIND_ACCESS_TOKEN && r.GetId() == jti {
			return true
		}
	}
	return false
}

// hasFamily reports whether the grant (refresh-token family) id was
// revoked.
func (m *memRevoker) hasFamily(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.got {
		if r.GetKind() == revocationv1.Kind_KIND_REFRESH_FAMILY && r.GetId() == id {
			return true
		}
	}
	return false
}

func (m *memRevoker) setDown(down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = down
}

func (m *memRevoker) requests() []*revocationv1.RevokeRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.got)
}

// registered is a client created through the registry, with its secret.
type registered struct {
	id, secret string
}

// env is one test's Gatehouse: the real client registry over SQLite, a real
// ES256 key, and the token service's real handlers behind a loopback
// httptest server.
type env struct {
	t       testing.TB
	ctx     context.Context
	issuer  string
	store   clients.Store
	reg     *clients.Registry
	spy     *countingClients
	svc     *token.Service
	srv     *httptest.Server
	clock   *fakeClock
	audit   *auditSpy
	logs    *logtest.Buffer
	priv    jwk.Key
	pub     jwk.Key
	limiter *ratelimit.Limiter
	revoker *memRevoker
	metrics *prometheus.Registry

	partner      registered // client_credentials, basic, orders:read orders:write, resources
	poster       registered // client_credentials, client_secret_post, orders:read
	introspector registered // client_credentials, gatehouse:introspect, low tier
	noScopes     registered // client_credentials, no scopes
	codeClient   registered // authorization_code + refresh_token, basic
	spa          registered // first party, public, authorization_code + refresh_token
	partnerApp   registered // third party, confidential, authorization_code (consent)
	cookieSPA    registered // first party, public, refresh token in a cookie

	grants grantstore.Store
	users  *fakeUsers
}

type envOption func(*envConfig)

type envConfig struct {
	issuerPath  string
	flow        bool
	postgres    bool
	clientCerts token.CertVerifier
	wrapGrants  func(grantstore.Store) grantstore.Store
	unlimited   bool
	requirePAR  bool
}

// withRequirePAR serves the flow (as withFlow) with Config.RequirePAR.
func withRequirePAR() envOption { return func(c *envConfig) { c.flow, c.requirePAR = true, true } }

// withUnlimitedClients gives every client tier an infinite request budget,
// for benchmarks that issue far more than a real client may. The failure
// budgets stay.
func withUnlimitedClients() envOption { return func(c *envConfig) { c.unlimited = true } }

// withGrantsWrapper serves the flow (as withFlow) over wrap(the grant
// store), for tests that need to interleave the service's store calls.
func withGrantsWrapper(wrap func(grantstore.Store) grantstore.Store) envOption {
	return func(c *envConfig) { c.flow, c.wrapGrants = true, wrap }
}

// mtlsBase is the mTLS alias base the env's metadata lists with
// withClientCerts.
const mtlsBase = "https://mtls.gatehouse.test:8443"

// withClientCerts accepts mTLS clients whose certificates v verifies.
func withClientCerts(v token.CertVerifier) envOption {
	return func(c *envConfig) { c.clientCerts = v }
}

// withPostgresGrants keeps the grants in PostgreSQL instead of SQLite
// (skipped locally without it).
func withPostgresGrants() envOption { return func(c *envConfig) { c.flow, c.postgres = true, true } }

// withFlow serves the authorization-code flow: a SQLite grant store and
// one user, alice@example.test with password alicePassword.
func withFlow() envOption { return func(c *envConfig) { c.flow = true } }

const (
	aliceEmail    = "alice@example.test"
	alicePassword = "correct horse battery staple"
	aliceID       = "u_alice"
)

// fakeUsers knows one user; it counts calls.
type fakeUsers struct {
	calls    atomic.Int64
	down     atomic.Bool
	disabled atomic.Bool
}

func (u *fakeUsers) Authenticate(_ context.Context, email, password string) (token.User, error) {
	u.calls.Add(1)
	if u.down.Load() {
		return token.User{}, errors.New("user store unavailable")
	}
	if email == aliceEmail && password == alicePassword {
		return token.User{ID: aliceID, Email: aliceEmail}, nil
	}
	return token.User{}, token.ErrInvalidLogin
}

// aliceClaims are alice's profile; tests may change them.
var aliceClaims = token.UserClaims{
	Email: aliceEmail, EmailVerified: true, Name: "Alice Liddell", GivenName: "Alice", FamilyName: "Liddell",
	PreferredUsername: "alice", Locale: "en-GB", UpdatedAt: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC),
}

func (u *fakeUsers) Claims(_ context.Context, id string) (token.UserClaims, error) {
	if u.down.Load() {
		return token.UserClaims{}, errors.New("user store unavailable")
	}
	if id != aliceID {
		return token.UserClaims{}, token.ErrUnknownUser
	}
	c := aliceClaims
	c.Disabled = u.disabled.Load()
	return c, nil
}

// keySet is the test signing key's public JWKS.
type keySet struct{ doc []byte }

func (k keySet) JWKS(context.Context) ([]byte, error) { return k.doc, nil }

func withIssuerPath(p string) envOption { return func(c *envConfig) { c.issuerPath = p } }

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	var ec envConfig
	for _, o := range opts {
		o(&ec)
	}
	ctx := context.Background()
	e := &env{t: t, ctx: ctx, clock: &fakeClock{now: time.Now().UTC().Truncate(time.Second)}, audit: &auditSpy{}, logs: &logtest.Buffer{}, revoker: &memRevoker{}}

	store, err := clientsql.New(ctx, dbtest.SQLiteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	e.reg = clients.New(store)
	if err := e.reg.SeedScopes(ctx, []string{token.ScopeIntrospect, token.ScopeIntrospectAll, "gatehouse:admin"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"orders:read", "orders:write", "billing:read"} {
		if _, err := e.reg.CreateScope(ctx, &clientsv1.CreateScopeRequest{Scope: &clientsv1.Scope{Name: s}}); err != nil {
			t.Fatal(err)
		}
	}
	e.partner = e.create(&clientsv1.Client{
		Name: "Partner", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"orders:read", "orders:write"}, Resources: []string{ordersResource, billingResource},
		AccessTokenLifetime: durationpb.New(15 * time.Minute),
	})
	e.poster = e.create(&clientsv1.Client{
		Name: "Poster", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"orders:read"}, TokenEndpointAuthMethod: "client_secret_post",
	})
	e.introspector = e.create(&clientsv1.Client{
		Name: "Resource server", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, GrantTypes: []string{"client_credentials"},
		Scopes: []string{token.ScopeIntrospect}, RateLimitTier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_LOW,
		// The resource server of every audience the tests' tokens have.
		Resources: []string{defaultAudience, ordersResource, billingResource, "https://a.example"},
	})
	e.noScopes = e.create(&clientsv1.Client{
		Name: "No scopes", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
	})
	e.codeClient = e.create(&clientsv1.Client{
		Name: "Web app", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectUris: []string{"https://app.example/cb"}, Scopes: []string{"orders:read"},
	})
	e.spa = e.create(&clientsv1.Client{
		Name: "SPA", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, Public: true, GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectUris: []string{"https://app.example/cb", "http://127.0.0.1:49152/cb"}, Scopes: []string{"orders:read", "orders:write"},
		AccessTokenLifetime: durationpb.New(10 * time.Minute),
	})
	e.cookieSPA = e.create(&clientsv1.Client{
		Name: "Cookie SPA", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, Public: true, GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectUris: []string{spaOrigin + "/spa/"}, Scopes: []string{"orders:read"},
		RefreshTokenDelivery: clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_COOKIE,
	})
	e.partnerApp = e.create(&clientsv1.Client{
		Name: "Partner portal", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"authorization_code"},
		RedirectUris: []string{"https://partner.example/cb"}, Scopes: []string{"orders:read"}, RequireConsent: true,
	})
	if ec.flow {
		var gs grantstore.Store
		var err error
		if ec.postgres {
			gs, err = grantsql.New(ctx, dbtest.PostgresDB(t))
		} else {
			gs, err = grantsql.New(ctx, dbtest.SQLiteDB(t))
		}
		if err != nil {
			t.Fatal(err)
		}
		if ec.wrapGrants != nil {
			gs = ec.wrapGrants(gs)
		}
		e.grants, e.users = gs, &fakeUsers{}
	}

	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if e.priv, err = jwk.FromRaw(raw); err != nil {
		t.Fatal(err)
	}
	if e.pub, err = jwk.PublicKeyOf(e.priv); err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	e.srv = httptest.NewUnstartedServer(mux)
	e.issuer = "http://" + e.srv.Listener.Addr().String() + ec.issuerPath
	e.spy = &countingClients{Clients: e.reg}
	var tiers map[string]ratelimit.Tier
	if ec.unlimited {
		tiers = ratelimit.DefaultTiers()
		for name := range tiers {
			tiers[name] = ratelimit.Tier{Rate: rate.Inf, Burst: 1}
		}
	}
	e.limiter = token.NewLimiter(tiers, ratelimit.WithClock(e.clock.Now))
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.metrics = prometheus.NewRegistry()
	e.svc, err = token.New(token.Config{
		Metrics:         e.metrics,
		Issuer:          e.issuer,
		DefaultAudience: defaultAudience,
		ScopesSupported: []string{"orders:read", "orders:write"},
		Logger:          logger,
		Audit:           multiRecorder{e.audit, audit.New(logger, nil, nil, "token")},
		Limiter:         e.limiter,
		Now:             e.clock.Now,
		Revoker:         e.revoker,
		Grants:          e.grants,
		Users:           e.usersOrNil(),
		ClientCerts:     ec.clientCerts,
		MTLSBase:        mtlsBaseIf(ec.clientCerts != nil),
		RequirePAR:      ec.requirePAR,
		KeySet:          e.keySet(t),
		// A failing address still waits, but not a second per test.
		LoginFailureDelay: time.Millisecond,
	}, e.spy, fixedSigner{token.SigningKey{KID: "k1", Alg: jwa.ES256, Key: e.priv}}, &jwxVerifier{pub: e.pub, issuer: e.issuer, clock: e.clock, revoked: e.revoker})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.svc.Close)
	e.svc.Routes(mux)
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

// keySet publishes the test signing key as kid k1, alg ES256.
func (e *env) keySet(t testing.TB) keySet {
	t.Helper()
	pub, err := jwk.PublicKeyOf(e.priv)
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "k1")
	_ = pub.Set(jwk.AlgorithmKey, jwa.ES256)
	_ = pub.Set(jwk.KeyUsageKey, "sig")
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	doc, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return keySet{doc}
}

func mtlsBaseIf(on bool) string {
	if on {
		return mtlsBase
	}
	return ""
}

// usersOrNil keeps a nil *fakeUsers from becoming a non-nil interface.
func (e *env) usersOrNil() token.Users {
	if e.users == nil {
		return nil
	}
	return e.users
}

type multiRecorder []audit.Recorder

func (m multiRecorder) RecordFailure(ctx context.Context, f audit.Failure) {
	for _, r := range m {
		r.RecordFailure(ctx, f)
	}
}

func (e *env) create(c *clientsv1.Client) registered {
	e.t.Helper()
	resp, err := e.reg.CreateClient(e.ctx, &clientsv1.CreateClientRequest{Client: c})
	if err != nil {
		e.t.Fatalf("create client %s: %v", c.GetName(), err)
	}
	return registered{id: resp.GetClient().GetClientId(), secret: resp.GetClientSecret()}
}

// setSecret makes secret the client's current secret, straight through the
// registry's store: the registry only issues random base64url secrets, and
// item 53 needs one with ': % + & ='.
func (e *env) setSecret(id, secret string) {
	e.t.Helper()
	sum := sha256.Sum256([]byte(secret))
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := e.store.RotateSecret(e.ctx, clients.Secret{ClientID: id, Hash: sum[:], CreatedAt: now}, now); err != nil {
		e.t.Fatal(err)
	}
	e.svc.InvalidateClient(id)
}

func (e *env) update(c *clientsv1.Client, paths ...string) {
	e.t.Helper()
	if _, err := e.reg.UpdateClient(e.ctx, &clientsv1.UpdateClientRequest{Client: c, UpdateMask: fieldMask(paths...)}); err != nil {
		e.t.Fatal(err)
	}
	// What the ClientChanged event of the change does in a deployment.
	e.svc.InvalidateClient(c.GetClientId())
}

func fieldMask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

func (e *env) url(path string) string { return e.issuer + path }

// httpFrom returns an HTTP client whose connections come from the loopback
// address ip (all of 127.0.0.0/8 is loopback on Linux), so that per-address
// budgets can be tested over real connections.
func httpFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// request is a raw HTTP request to the service.
type request struct {
	method  string // POST by default
	path    string // after the issuer
	rawURL  string // instead of issuer + path
	query   string
	ctype   string // application/x-www-form-urlencoded by default; "-" for none
	basic   *[2]string
	authz   string // a raw Authorization header, instead of basic
	body    string
	headers map[string]string
}

// response is what came back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %q", err, r.body)
	}
	return m
}

func (e *env) do(c *http.Client, req request) response {
	e.t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	method := req.method
	if method == "" {
		method = http.MethodPost
	}
	u := e.url(req.path)
	if req.rawURL != "" {
		u = req.rawURL
	}
	if req.query != "" {
		u += "?" + req.query
	}
	hr, err := http.NewRequestWithContext(e.ctx, method, u, strings.NewReader(req.body))
	if err != nil {
		e.t.Fatal(err)
	}
	switch req.ctype {
	case "":
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case "-":
	default:
		hr.Header.Set("Content-Type", req.ctype)
	}
	if req.basic != nil {
		hr.Header.Set("Authorization", basicHeader(req.basic[0], req.basic[1]))
	}
	if req.authz != "" {
		hr.Header.Set("Authorization", req.authz)
	}
	for k, v := range req.headers {
		hr.Header.Set(k, v)
	}
	resp, err := c.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// basicHeader is client_secret_basic done right (RFC 6749 §2.3.1): each part
// form-urlencoded, then Base64.
func basicHeader(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func basic(id, secret string) *[2]string { return &[2]string{id, secret} }

// tokenFor asks a client_credentials token with client_secret_basic.
func (e *env) tokenFor(c *http.Client, cl registered, form string) response {
	e.t.Helper()
	body := "grant_type=client_credentials"
	if form != "" {
		body += "&" + form
	}
	return e.do(c, request{path: "/oauth2/token", basic: basic(cl.id, cl.secret), body: body})
}

// accessToken issues a token to cl and returns it.
func (e *env) accessToken(cl registered, form string) string {
	e.t.Helper()
	r := e.tokenFor(nil, cl, form)
	if r.status != http.StatusOK {
		e.t.Fatalf("token for %s: %d %s", cl.id, r.status, r.body)
	}
	return r.json(e.t)["access_token"].(string)
}

// assertOAuthError checks an RFC 6749 §5.2 error response (checklist item
// 60): status, JSON with a registered code, the description's character
// set, no-store, and nothing but error and error_description.
func assertOAuthError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if p := r.header.Get("Pragma"); p != "no-cache" {
		t.Errorf("Pragma %q, want no-cache", p)
	}
	m := r.json(t)
	if m["error"] != code {
		t.Errorf("error %v, want %s", m["error"], code)
	}
	registered := map[string]bool{
		"invalid_request": true, "invalid_client": true, "invalid_grant": true, "unauthorized_client": true,
		"unsupported_grant_type": true, "invalid_scope": true, "invalid_target": true, "insufficient_scope": true,
		"server_error": true, "temporarily_unavailable": true, "unsupported_token_type": true,
		// RFC 9449 §12.2.
		"invalid_dpop_proof": true, "use_dpop_nonce": true,
	}
	if s, _ := m["error"].(string); !registered[s] {
		t.Errorf("error %q is not a registered code", s)
	}
	for k := range m {
		if k != "error" && k != "error_description" {
			t.Errorf("unexpected member %q in an error response", k)
		}
	}
	if d, ok := m["error_description"].(string); ok {
		for i := 0; i < len(d); i++ {
			if c := d[i]; c < 0x20 || c == 0x22 || c == 0x5c || c > 0x7e {
				t.Errorf("error_description has %q at %d, outside %%x20-21 / %%x23-5B / %%x5D-7E: %q", c, i, d)
			}
		}
	}
}

// decodeJWT returns a compact JWS's protected header and claims as JSON
// objects, checking that it has three base64url parts.
func decodeJWT(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	for i, p := range parts[:2] {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			t.Fatalf("part %d is not base64url: %v", i, err)
		}
		m := map[string]any{}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("part %d is not a JSON object: %v", i, err)
		}
		if i == 0 {
			header = m
		} else {
			claims = m
		}
	}
	return header, claims
}

func num(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%v is not an integer", v)
	}
	return i
}

func keys(m map[string]any) string { return fmt.Sprint(slices.Sorted(maps.Keys(m))) }
