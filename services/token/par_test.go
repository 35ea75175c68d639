package token_test

import (
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/mtls"
	"github.com/gatehouse-dev/gatehouse/services/token"
)

// parForm is a complete authorization request of cl for the SPA redirect.
func parForm(cl registered, challenge string, extra ...string) url.Values {
	f := url.Values{"response_type": {"code"}, "client_id": {cl.id}, "redirect_uri": {spaRedirect},
		"state": {"pushed-state"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			f.Del(extra[i])
		} else {
			f.Set(extra[i], extra[i+1])
		}
	}
	return f
}

// push posts f to /oauth2/par, with basic credentials when given.
func (e *env) push(f url.Values, creds *[2]string, headers map[string]string) response {
	e.t.Helper()
	return e.do(nil, request{path: "/oauth2/par", body: f.Encode(), basic: creds, headers: headers})
}

// pushed pushes f and returns the request_uri of the 201.
func (e *env) pushed(t *testing.T, f url.Values, creds *[2]string) string {
	t.Helper()
	r := e.push(f, creds, nil)
	if r.status != http.StatusCreated || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("push: %d %v %s", r.status, r.header, r.body)
	}
	body := r.json(t)
	uri, _ := body["request_uri"].(string)
	if !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || len(uri) < 34+43 || body["expires_in"] != float64(60) || len(body) != 2 {
		t.Fatalf("push response %v", body)
	}
	return uri
}

// byReference is the authorization URL of a pushed request, with extra
// parameters that must be ignored.
func (e *env) byReference(clientID, uri string, extra ...string) string {
	q := url.Values{"client_id": {clientID}, "request_uri": {uri}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return e.url("/oauth2/authorize?" + q.Encode())
}

// codeOf follows a pushed request through the login page to the code;
// the authorization response must carry the pushed state.
func codeOf(t *testing.T, a *agent, r response) string {
	t.Helper()
	if r.status == http.StatusOK {
		r = a.signIn(r, alicePassword)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || err != nil || !strings.HasPrefix(r.header.Get("Location"), spaRedirect+"?") ||
		loc.Query().Get("code") == "" || loc.Query().Get("state") != "pushed-state" {
		t.Fatalf("authorize: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	return loc.Query().Get("code")
}

// TestPAR: RFC 9126 with a public client (none + PKCE) and a confidential
// one: the pushed request is what is authorized, whatever else the URL
// says; the request_uri is single use, bound to its client, and expires.
func TestPAR(t *testing.T) {
	e := newEnv(t, withFlow())
	verifier, challenge := pkce("par")

	uri := e.pushed(t, parForm(e.spa, challenge, "scope", "orders:read"), nil)
	a := e.agent()
	// The URL's other parameters are ignored (§4): not this redirect_uri,
	// state or scope.
	code := codeOf(t, a, a.get(e.byReference(e.spa.id, uri,
		"redirect_uri", "https://evil.example/cb", "state", "evil", "scope", "orders:write", "code_challenge", "x")))
	tok := e.exchange(e.spa, code, verifier, spaRedirect)
	if tok.status != http.StatusOK {
		t.Fatalf("exchange: %d %s", tok.status, tok.body)
	}
	if _, claims := decodeJWT(t, tok.json(t)["access_token"].(string)); claims["scope"] != "orders:read" {
		t.Fatalf("scope %v, want the pushed orders:read", claims["scope"])
	}
	// Single use: the signed-in browser gets an error page, not a code.
	if r := a.get(e.byReference(e.spa.id, uri)); r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
		t.Fatalf("request_uri used again: %d %s", r.status, r.header.Get("Location"))
	}

	// A confidential client authenticates at the PAR endpoint; its secret
	// is not part of what is stored.
	_, webChallenge := pkce("web")
	webURI := e.pushed(t, parForm(e.codeClient, webChallenge, "client_id", ""), basic(e.codeClient.id, e.codeClient.secret))
	// Bound to the client that pushed it.
	if r := e.agent().get(e.byReference(e.spa.id, webURI)); r.status != http.StatusBadRequest {
		t.Fatalf("another client's request_uri: %d %s", r.status, r.header.Get("Location"))
	}
	codeOf(t, a, a.get(e.byReference(e.codeClient.id, webURI)))

	// Expired after expires_in.
	late := e.pushed(t, parForm(e.spa, challenge), nil)
	e.clock.Advance(61 * time.Second)
	if r := a.get(e.byReference(e.spa.id, late)); r.status != http.StatusBadRequest {
		t.Fatalf("expired request_uri: %d %s", r.status, r.header.Get("Location"))
	}
	for _, bad := range []string{"urn:ietf:params:oauth:request_uri:nope", "urn:ietf:params:oauth:request_uri:", late} {
		if r := a.get(e.byReference(e.spa.id, bad)); r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
			t.Errorf("request_uri %q: %d %s", bad, r.status, r.header.Get("Location"))
		}
	}

	// The login form of a pushed request may take longer than expires_in:
	// the user types, the client does not.
	slow := e.pushed(t, parForm(e.spa, challenge), nil)
	b := e.agent()
	page := b.get(e.byReference(e.spa.id, slow))
	if page.status != http.StatusOK || strings.Contains(string(page.body), "pushed-state") {
		t.Fatalf("login page of a pushed request: %d (it carries the reference, not the parameters)", page.status)
	}
	e.clock.Advance(5 * time.Minute)
	codeOf(t, b, page)
}

// TestPARRefusals: what /oauth2/authorize would refuse is refused at push
// time, as JSON to the client.
func TestPARRefusals(t *testing.T) {
	e := newEnv(t, withFlow())
	_, challenge := pkce("refusals")
	tests := []struct {
		name   string
		form   url.Values
		creds  *[2]string
		status int
		code   string
	}{
		{"no PKCE", parForm(e.spa, challenge, "code_challenge", ""), nil, 400, token.CodeInvalidRequest},
		{"plain PKCE", parForm(e.spa, challenge, "code_challenge_method", "plain"), nil, 400, token.CodeInvalidRequest},
		{"unregistered redirect_uri", parForm(e.spa, challenge, "redirect_uri", "https://evil.example/cb"), nil, 400, token.CodeInvalidRequest},
		{"a scope the client may not have", parForm(e.spa, challenge, "scope", "gatehouse:admin"), nil, 400, token.CodeInvalidScope},
		{"response_type token", parForm(e.spa, challenge, "response_type", "token"), nil, 400, "unsupported_response_type"},
		{"a request_uri pushed", parForm(e.spa, challenge, "request_uri", "urn:ietf:params:oauth:request_uri:x"), nil, 400, token.CodeInvalidRequest},
		{"a request object", parForm(e.spa, challenge, "request", "eyJ.eyJ.sig"), nil, 400, "request_not_supported"},
		{"confidential client without its secret", parForm(e.codeClient, challenge), nil, 401, token.CodeInvalidClient},
		{"confidential client with a wrong secret", parForm(e.codeClient, challenge), basic(e.codeClient.id, "wrong"), 401, token.CodeInvalidClient},
		{"client without the code grant", parForm(e.partner, challenge, "client_id", ""), basic(e.partner.id, e.partner.secret), 400, token.CodeUnauthorizedClient},
		{"malformed dpop_jkt", parForm(e.spa, challenge, "dpop_jkt", "short"), nil, 400, token.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.push(tt.form, tt.creds, nil)
			if r.status != tt.status || r.json(t)["error"] != tt.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}
}

// TestPARRequired: per client (require_pushed_authorization_requests) and
// server-wide (Config.RequirePAR), a request by value is refused with an
// error page, and the metadata says so.
func TestPARRequired(t *testing.T) {
	_, challenge := pkce("required")
	t.Run("per client", func(t *testing.T) {
		e := newEnv(t, withFlow())
		a := e.agent()
		if r := a.get(e.authorizeURL(e.spa, spaRedirect, "s", challenge)); r.status != http.StatusOK {
			t.Fatalf("by value before: %d", r.status)
		}
		e.update(&clientsv1.Client{ClientId: e.spa.id, RequirePushedAuthorizationRequests: true}, "require_pushed_authorization_requests")
		e.svc.InvalidateClient(e.spa.id)
		if r := a.get(e.authorizeURL(e.spa, spaRedirect, "s", challenge)); r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
			t.Fatalf("by value from a PAR client: %d %s", r.status, r.header.Get("Location"))
		}
		codeOf(t, a, a.get(e.byReference(e.spa.id, e.pushed(t, parForm(e.spa, challenge), nil))))
		// Other clients are not concerned.
		if r := a.get(e.authorizeURL(e.codeClient, spaRedirect, "s", challenge)); r.status != http.StatusSeeOther || r.header.Get("Location") == "" {
			t.Fatalf("by value from another client: %d", r.status)
		}
		if m := e.do(nil, request{method: "GET", path: "/.well-known/openid-configuration", ctype: "-"}).json(t); m["require_pushed_authorization_requests"] != false ||
			m["pushed_authorization_request_endpoint"] != e.url("/oauth2/par") {
			t.Fatalf("metadata: %v %v", m["require_pushed_authorization_requests"], m["pushed_authorization_request_endpoint"])
		}
	})
	t.Run("server-wide", func(t *testing.T) {
		e := newEnv(t, withRequirePAR())
		a := e.agent()
		if r := a.get(e.authorizeURL(e.codeClient, spaRedirect, "s", challenge)); r.status != http.StatusBadRequest {
			t.Fatalf("by value: %d", r.status)
		}
		codeOf(t, a, a.get(e.byReference(e.spa.id, e.pushed(t, parForm(e.spa, challenge), nil))))
		for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
			if m := e.do(nil, request{method: "GET", rawURL: metadataURL(e, path), ctype: "-"}).json(t); m["require_pushed_authorization_requests"] != true {
				t.Fatalf("%s: require_pushed_authorization_requests %v", path, m["require_pushed_authorization_requests"])
			}
		}
	})
}

func metadataURL(e *env, path string) string {
	if path == "/.well-known/oauth-authorization-server" {
		return issuerOrigin(e.issuer) + path
	}
	return e.url(path)
}

// TestPARDPoP: a DPoP proof at the PAR endpoint binds the code to its key
// (RFC 9449 §10.1), as dpop_jkt does, and both must agree.
func TestPARDPoP(t *testing.T) {
	e := newEnv(t, withFlow())
	h, other := newDPoPHolder(t), newDPoPHolder(t)
	verifier, challenge := pkce("par-dpop")
	parURL := e.url("/oauth2/par")

	// The nonce round trip, as at the token endpoint.
	r := e.push(parForm(e.spa, challenge), nil, map[string]string{"DPoP": h.proof(t, e, parURL, "")})
	assertOAuthError(t, r, http.StatusBadRequest, token.CodeUseDPoPNonce)
	nonce := r.header.Get("DPoP-Nonce")
	if r := e.push(parForm(e.spa, challenge, "dpop_jkt", other.JKT), nil, map[string]string{"DPoP": h.proof(t, e, parURL, nonce)}); r.status != http.StatusBadRequest || r.json(t)["error"] != token.CodeInvalidDPoPProof {
		t.Fatalf("dpop_jkt of another key: %d %s", r.status, r.body)
	}
	if r := e.push(parForm(e.spa, challenge), nil, map[string]string{"DPoP": h.proof(t, e, e.url("/oauth2/token"), nonce)}); r.status != http.StatusBadRequest || r.json(t)["error"] != token.CodeInvalidDPoPProof {
		t.Fatalf("a proof for the token endpoint: %d %s", r.status, r.body)
	}
	r = e.push(parForm(e.spa, challenge), nil, map[string]string{"DPoP": h.proof(t, e, parURL, nonce)})
	if r.status != http.StatusCreated {
		t.Fatalf("push with a proof: %d %s", r.status, r.body)
	}
	uri := r.json(t)["request_uri"].(string)
	a := e.agent()
	code := codeOf(t, a, a.get(e.byReference(e.spa.id, uri)))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {e.spa.id},
		"code_verifier": {verifier}, "redirect_uri": {spaRedirect}}
	assertOAuthError(t, e.postToken(t, other, form, nil), http.StatusBadRequest, token.CodeInvalidGrant)

	uri = e.pushed(t, parForm(e.spa, challenge, "dpop_jkt", h.JKT), nil)
	form.Set("code", codeOf(t, a, a.get(e.byReference(e.spa.id, uri))))
	assertDPoPToken(t, e.postToken(t, h, form, nil), h)
}

// TestPARBudget: pushes spend the client's request budget, as token
// requests do; a low-tier client is refused with 429 past its burst.
func TestPARBudget(t *testing.T) {
	const burst = 10
	e := newEnv(t, withFlow())
	low := e.create(&clientsv1.Client{
		Name: "Low web app", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, GrantTypes: []string{"authorization_code"},
		RedirectUris: []string{spaRedirect}, Scopes: []string{"orders:read"}, RateLimitTier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_LOW,
	})
	_, challenge := pkce("budget")
	form := parForm(low, challenge, "client_id", "")
	for i := range burst {
		if r := e.push(form, basic(low.id, low.secret), nil); r.status != http.StatusCreated {
			t.Fatalf("push %d within the burst: %d %s", i, r.status, r.body)
		}
	}
	assertTooManyRequests(t, e.push(form, basic(low.id, low.secret), nil))
	e.clock.Advance(time.Second)
	if r := e.push(form, basic(low.id, low.secret), nil); r.status != http.StatusCreated {
		t.Fatalf("after a second: %d %s", r.status, r.body)
	}
}

// TestPARMTLSAlias: with an mTLS listener the metadata sends mTLS clients
// to the PAR endpoint there (RFC 8705 §5), as to the token endpoint.
func TestPARMTLSAlias(t *testing.T) {
	ca := newTestCA(t, "Partner CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	e := newEnv(t, withFlow(), withClientCerts(mtls.NewTrust(pool, nil)))
	meta := e.do(nil, request{method: http.MethodGet, ctype: "-", path: "/.well-known/openid-configuration"}).json(t)
	aliases, _ := meta["mtls_endpoint_aliases"].(map[string]any)
	if base, _ := aliases["token_endpoint"].(string); base == "" || aliases["pushed_authorization_request_endpoint"] != strings.TrimSuffix(base, "/oauth2/token")+"/oauth2/par" {
		t.Fatalf("mtls_endpoint_aliases: %v", aliases)
	}
}
