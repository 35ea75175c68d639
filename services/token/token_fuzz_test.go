package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/fuzzseed"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	clientsql "github.com/gatehouse-dev/gatehouse/services/clients/sqlstore"
	"github.com/gatehouse-dev/gatehouse/services/token"
)

// Fixed secrets for the fuzz targets' clients, with the characters that
// need form-urlencoding before HTTP Basic (RFC 6749 §2.3.1).
const (
	fuzzPartnerSecret = "p:ss%+&= wörd"
	fuzzPosterSecret  = "poster-secret"
)

// fuzzEnv is the env of a fuzz target: built once, before f.Fuzz, with
// fixed secrets. Client ids are random, so inputs name clients with
// placeholders that expand substitutes.
type fuzzEnv struct {
	*env
	handler http.Handler
	expand  *strings.Replacer
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	e := newEnv(f, withFlow())
	e.setSecret(e.partner.id, fuzzPartnerSecret)
	e.setSecret(e.poster.id, fuzzPosterSecret)
	return &fuzzEnv{
		env:     e,
		handler: e.srv.Config.Handler,
		expand: strings.NewReplacer(
			"{partner}", e.partner.id,
			"{partner_secret}", url.QueryEscape(fuzzPartnerSecret),
			"{poster}", e.poster.id,
			"{poster_secret}", url.QueryEscape(fuzzPosterSecret),
			"{code_client}", e.codeClient.id,
			"{spa}", e.spa.id,
			"{cookie_spa}", e.cookieSPA.id,
			"{partner_app}", e.partnerApp.id,
		),
	}
}

// serve runs one request through the service's mux, in process.
func (fe *fuzzEnv) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	fe.handler.ServeHTTP(w, r)
	return w
}

// tokenEndpointErrors are the error codes the token endpoint may answer a
// client's mistake with (RFC 6749 §5.2, RFC 8707 §2).
var tokenEndpointErrors = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true, "unauthorized_client": true,
	"unsupported_grant_type": true, "invalid_scope": true, "invalid_target": true,
}

// validHeaderValue is what net/http's server lets through as a header
// value (no CTL but HTAB); the handler never sees anything else.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// tokenTarget is what FuzzTokenEndpoint and FuzzTokenEndpointPostgres
// post to: the token service's mux, the expansion of the placeholders, the
// clock to move, and the client whose refresh token is a cookie (none:
// "").
type tokenTarget struct {
	handler     http.Handler
	expand      *strings.Replacer
	advance     func(time.Duration)
	cookieSPAID string
}

// tokenEndpointSeeds are the seeds of both token endpoint targets.
func tokenEndpointSeeds() []fuzzseed.Seed {
	const cc = "grant_type=client_credentials"
	basicPartner := "basic64:{partner}:{partner_secret}"
	return []fuzzseed.Seed{
		{Name: "seed-basic-ok", Args: []any{cc, basicPartner}},
		{Name: "seed-basic-scope-resource", Args: []any{cc + "&scope=orders:read&resource=https%3A%2F%2Fapi.example%2Forders", basicPartner}},
		{Name: "seed-post-ok", Args: []any{cc + "&client_id={poster}&client_secret={poster_secret}", ""}},
		{Name: "seed-duplicate-param", Args: []any{cc + "&grant_type=client_credentials", basicPartner}},
		{Name: "seed-duplicate-resource", Args: []any{cc + "&resource=https%3A%2F%2Fapi.example%2Forders&resource=http%3A%2F%2F127.0.0.1%3A9000%2Fbilling", basicPartner}},
		{Name: "seed-bad-percent-body", Args: []any{cc + "&scope=%zz", basicPartner}},
		{Name: "seed-bad-percent-basic", Args: []any{cc, "basic64:{partner}:%zz%"}},
		{Name: "seed-unencoded-secret", Args: []any{cc, "basic64:{partner}:" + fuzzPartnerSecret}},
		{Name: "seed-two-methods", Args: []any{cc + "&client_secret={partner_secret}", basicPartner}},
		{Name: "seed-body-id-differs", Args: []any{cc + "&client_id={poster}", basicPartner}},
		{Name: "seed-wrong-secret", Args: []any{cc, "basic64:{partner}:nope"}},
		{Name: "seed-not-base64", Args: []any{cc, "Basic !!!!"}},
		{Name: "seed-bearer-scheme", Args: []any{cc, "Bearer abc"}},
		{Name: "seed-no-credentials", Args: []any{cc, ""}},
		{Name: "seed-password-grant", Args: []any{"grant_type=password&username=a&password=b", basicPartner}},
		{Name: "seed-empty-body", Args: []any{"", basicPartner}},
		{Name: "seed-no-name", Args: []any{"=x&" + cc, basicPartner}},
		{Name: "seed-code-grant-public", Args: []any{"grant_type=authorization_code&code=abc&code_verifier=" + strings.Repeat("v", 43) + "&client_id={spa}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb", ""}},
		{Name: "seed-refresh-cookie-client", Args: []any{"grant_type=refresh_token&client_id={cookie_spa}", ""}},
		{Name: "seed-refresh-grant", Args: []any{"grant_type=refresh_token&refresh_token=abc", "basic64:{code_client}:x"}},
		{Name: "seed-bad-scope", Args: []any{cc + "&scope=orders:read%20%22", basicPartner}},
		{Name: "seed-unregistered-resource", Args: []any{cc + "&resource=https%3A%2F%2Fevil.example", basicPartner}},
		{Name: "seed-grant-not-allowed", Args: []any{"grant_type=authorization_code&code=x", basicPartner}},
		{Name: "seed-too-many-params", Args: []any{cc + strings.Repeat("&resource=x", 40), basicPartner}},
		// client_ids that PostgreSQL cannot store: NUL, invalid UTF-8.
		{Name: "seed-nul-client-id-basic", Args: []any{cc, "basic64:c%00x:secret"}},
		{Name: "seed-nul-client-id-post", Args: []any{cc + "&client_id=c%00x&client_secret=s", ""}},
		{Name: "seed-invalid-utf8-client-id-public", Args: []any{"grant_type=client_credentials&client_id=%FF", ""}},
		// Found by FuzzTokenEndpointPostgres in a second: a 500 before the
		// registry refused impossible ids (services/clients/storable.go).
		{Name: "seed-found-invalid-utf8-basic-id", Args: []any{"grant_type=client_credentials", "basic64:\x94:0"}},
	}
}

// FuzzTokenEndpoint fuzzes POST /oauth2/token through the real handler (the
// service's mux, with the registry over SQLite): the form body and the
// Authorization header. In both, {partner}, {partner_secret}, {poster},
// {poster_secret}, {code_client}, {spa}, {cookie_spa} and {partner_app}
// stand for the clients' ids and (form-urlencoded) secrets; an
// Authorization value starting "basic64:" is sent as "Basic " and the
// Base64 of the rest, so that the fuzzer works on the decoded credentials.
//
// Properties: no input yields a 5xx (nor a 429: the clock moves an hour
// per input, so the failure budgets never run out); 413 only for a body
// over 64 KiB; every refusal is 400 or 401 with an RFC 6749 §5.2 JSON body
// whose error is one of tokenEndpointErrors, invalid_client exactly when
// 401, a Basic challenge on a 401 that used the Authorization header, a
// description in the §5.2 character set, and no-store; a 200 is a Bearer
// token response, and only for a request that carried a client's secret.
func FuzzTokenEndpoint(f *testing.F) {
	fuzzseed.Sync(f, "FuzzTokenEndpoint", tokenEndpointSeeds())
	fe := newFuzzEnv(f)
	fuzzTokenEndpoint(f, &tokenTarget{handler: fe.handler, expand: fe.expand, advance: fe.clock.Advance, cookieSPAID: fe.cookieSPA.id})
}

// FuzzTokenEndpointPostgres is FuzzTokenEndpoint with the client registry
// over PostgreSQL (skipped without one, as every PostgreSQL test), whose
// text type refuses what SQLite stores: NUL and invalid UTF-8. Only the
// client_credentials grant is served (no grant store), by the partner
// (client_secret_basic) and the poster (client_secret_post); {spa} is a
// public client.
func FuzzTokenEndpointPostgres(f *testing.F) {
	fuzzseed.Sync(f, "FuzzTokenEndpointPostgres", tokenEndpointSeeds())
	fuzzTokenEndpoint(f, newPostgresTokenTarget(f))
}

func fuzzTokenEndpoint(f *testing.F, tt *tokenTarget) {
	// The seeds reach a token with either method, so the fuzzer starts
	// from requests that pass client authentication.
	for _, in := range [][2]string{
		{"grant_type=client_credentials", "basic64:{partner}:{partner_secret}"},
		{"grant_type=client_credentials&client_id={poster}&client_secret={poster_secret}", ""},
	} {
		if w, _, _ := tt.tokenRequest(in[0], in[1]); w.Code != http.StatusOK {
			f.Fatalf("seed %q: %d %s", in, w.Code, w.Body.Bytes())
		}
	}
	f.Fuzz(func(t *testing.T, body, authorization string) {
		w, body, authorization := tt.tokenRequest(body, authorization)
		if w == nil {
			return
		}
		tt.checkTokenResponse(t, w, body, authorization)
	})
}

// tokenRequest expands a fuzz input and posts it; it returns a nil
// recorder for an Authorization value no HTTP server would pass on.
func (tt *tokenTarget) tokenRequest(body, authorization string) (*httptest.ResponseRecorder, string, string) {
	body = tt.expand.Replace(body)
	authorization = tt.expand.Replace(authorization)
	if rest, ok := strings.CutPrefix(authorization, "basic64:"); ok {
		authorization = "Basic " + base64.StdEncoding.EncodeToString([]byte(rest))
	}
	if !validHeaderValue(authorization) {
		return nil, body, authorization
	}
	tt.advance(time.Hour) // a fresh failure budget for every input
	r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/oauth2/token", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization = strings.Trim(authorization, " \t"); authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	w := httptest.NewRecorder()
	tt.handler.ServeHTTP(w, r)
	return w, body, authorization
}

// newPostgresTokenTarget builds a token service whose client registry is
// over PostgreSQL: the partner, the poster and a public client, with the
// fixed secrets.
func newPostgresTokenTarget(f *testing.F) *tokenTarget {
	f.Helper()
	ctx := context.Background()
	store, err := clientsql.New(ctx, dbtest.PostgresDB(f))
	if err != nil {
		f.Fatal(err)
	}
	reg := clients.New(store)
	if _, err := reg.CreateScope(ctx, &clientsv1.CreateScopeRequest{Scope: &clientsv1.Scope{Name: "orders:read"}}); err != nil {
		f.Fatal(err)
	}
	create := func(c *clientsv1.Client, secret string) string {
		resp, err := reg.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: c})
		if err != nil {
			f.Fatalf("create client %s: %v", c.GetName(), err)
		}
		id := resp.GetClient().GetClientId()
		if secret != "" {
			sum := sha256.Sum256([]byte(secret))
			now := time.Now().UTC().Truncate(time.Microsecond)
			if err := store.RotateSecret(ctx, clients.Secret{ClientID: id, Hash: sum[:], CreatedAt: now}, now); err != nil {
				f.Fatal(err)
			}
		}
		return id
	}
	partner := create(&clientsv1.Client{
		Name: "Partner", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"orders:read"}, Resources: []string{ordersResource},
	}, fuzzPartnerSecret)
	poster := create(&clientsv1.Client{
		Name: "Poster", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"orders:read"}, TokenEndpointAuthMethod: "client_secret_post",
	}, fuzzPosterSecret)
	spa := create(&clientsv1.Client{
		Name: "SPA", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, Public: true, GrantTypes: []string{"authorization_code"},
		RedirectUris: []string{"https://app.example/cb"}, Scopes: []string{"orders:read"},
	}, "")

	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	priv, err := jwk.FromRaw(raw)
	if err != nil {
		f.Fatal(err)
	}
	clock := &fakeClock{now: time.Now().UTC().Truncate(time.Second)}
	const issuer = "http://127.0.0.1:1"
	svc, err := token.New(token.Config{
		Issuer: issuer, DefaultAudience: defaultAudience, Now: clock.Now,
		Limiter: token.NewLimiter(nil, ratelimit.WithClock(clock.Now)),
	}, reg, fixedSigner{token.SigningKey{KID: "k1", Alg: jwa.ES256, Key: priv}}, &jwxVerifier{issuer: issuer, clock: clock})
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	return &tokenTarget{
		handler: mux,
		advance: clock.Advance,
		expand: strings.NewReplacer(
			"{partner}", partner, "{partner_secret}", url.QueryEscape(fuzzPartnerSecret),
			"{poster}", poster, "{poster_secret}", url.QueryEscape(fuzzPosterSecret),
			"{code_client}", spa, "{spa}", spa, "{cookie_spa}", spa, "{partner_app}", spa,
		),
	}
}

func (tt *tokenTarget) checkTokenResponse(t *testing.T, w *httptest.ResponseRecorder, body, authorization string) {
	t.Helper()
	status := w.Code
	if status == http.StatusRequestEntityTooLarge && len(body) > 64<<10 {
		return
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d with Content-Type %q, Cache-Control %q", status, ct, w.Header().Get("Cache-Control"))
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("status %d, body not a JSON object: %v: %q", status, err, w.Body.Bytes())
	}
	switch status {
	case http.StatusOK:
		if m["token_type"] != "Bearer" || m["access_token"] == nil {
			t.Fatalf("200 without a Bearer token: %s", w.Body.Bytes())
		}
		// Public clients get tokens only for a code or a refresh token,
		// which the fuzzer cannot have: every 200 used a secret.
		if !carriesSecret(body, authorization) {
			t.Fatalf("a token without a client secret: body %q, Authorization %q", body, authorization)
		}
		return
	case http.StatusBadRequest, http.StatusUnauthorized:
	case http.StatusForbidden:
		// The one deliberate exception to §5.2's 400: a refresh for a
		// client whose refresh token is a cookie, from none of its
		// origins (the fuzz requests carry no Origin), is 403.
		q, _ := url.ParseQuery(body)
		if m["error"] != "invalid_request" || q.Get("grant_type") != "refresh_token" || tt.cookieSPAID == "" || q.Get("client_id") != tt.cookieSPAID {
			t.Fatalf("status 403: %s", w.Body.Bytes())
		}
		return
	default:
		t.Fatalf("status %d: %s", status, w.Body.Bytes())
	}
	code, _ := m["error"].(string)
	if !tokenEndpointErrors[code] {
		t.Fatalf("status %d with error %q, not one of the token endpoint's", status, m["error"])
	}
	if (code == "invalid_client") != (status == http.StatusUnauthorized) {
		t.Fatalf("error %s with status %d", code, status)
	}
	if status == http.StatusUnauthorized && authorization != "" && w.Header().Get("WWW-Authenticate") != `Basic realm="gatehouse"` {
		t.Fatalf("401 to a request with an Authorization header, without a challenge")
	}
	for k, v := range m {
		d, ok := v.(string)
		if (k != "error" && k != "error_description") || !ok {
			t.Fatalf("unexpected member %q in an error response: %s", k, w.Body.Bytes())
		}
		for i := 0; i < len(d); i++ {
			if c := d[i]; c < 0x20 || c == '"' || c == '\\' || c > 0x7e {
				t.Fatalf("%s has %q, outside the RFC 6749 section 5.2 set: %q", k, c, d)
			}
		}
	}
}

// carriesSecret reports whether a request presents one of the two secrets
// the fuzz target knows, in an HTTP Basic header or as client_secret.
func carriesSecret(body, authorization string) bool {
	known := func(s string) bool { return s == fuzzPartnerSecret || s == fuzzPosterSecret }
	if scheme, b64, ok := strings.Cut(authorization, " "); ok && strings.EqualFold(scheme, "Basic") {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			return false
		}
		_, enc, _ := strings.Cut(string(raw), ":")
		secret, err := url.QueryUnescape(enc)
		return err == nil && known(secret)
	}
	q, err := url.ParseQuery(body)
	return err == nil && known(q.Get("client_secret"))
}
