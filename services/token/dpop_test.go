package token_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	tokenv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop/dpoptest"
	"github.com/gatehouse-dev/gatehouse/services/token"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// dpopHolder is a client's DPoP key pair, signing at the env's clock.
type dpopHolder struct{ *dpoptest.Key }

func newDPoPHolder(t *testing.T) *dpopHolder { return &dpopHolder{dpoptest.NewKey(t)} }

// proof is a proof for POST htu at the env's clock, with nonce when given.
func (h *dpopHolder) proof(t *testing.T, e *env, htu, nonce string) string {
	t.Helper()
	return h.ProofAt(t, e.clock.Now(), "POST", htu, nonce, "")
}

// postToken posts form to the token endpoint with a DPoP proof by h (none
// when h is nil), first without a nonce: the answer must be
// use_dpop_nonce with a DPoP-Nonce, which the second try carries.
func (e *env) postToken(t *testing.T, h *dpopHolder, form url.Values, basicAuth *[2]string) response {
	t.Helper()
	req := request{path: "/oauth2/token", body: form.Encode(), basic: basicAuth}
	if h == nil {
		return e.do(nil, req)
	}
	req.headers = map[string]string{"DPoP": h.proof(t, e, e.url("/oauth2/token"), "")}
	r := e.do(nil, req)
	assertOAuthError(t, r, http.StatusBadRequest, token.CodeUseDPoPNonce)
	nonce := r.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	req.headers = map[string]string{"DPoP": h.proof(t, e, e.url("/oauth2/token"), nonce)}
	return e.do(nil, req)
}

// assertDPoPToken checks a successful DPoP token response bound to h.
func assertDPoPToken(t *testing.T, r response, h *dpopHolder) map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	body := r.json(t)
	if body["token_type"] != "DPoP" {
		t.Errorf("token_type %v, want DPoP", body["token_type"])
	}
	_, claims := decodeJWT(t, body["access_token"].(string))
	cnf, _ := claims["cnf"].(map[string]any)
	if cnf["jkt"] != h.JKT {
		t.Errorf("cnf %v, want jkt %s", claims["cnf"], h.JKT)
	}
	return body
}

func ccForm() url.Values { return url.Values{"grant_type": {"client_credentials"}} }

func TestDPoPClientCredentials(t *testing.T) {
	e := newEnv(t)
	h := newDPoPHolder(t)
	partner := basic(e.partner.id, e.partner.secret)

	assertDPoPToken(t, e.postToken(t, h, ccForm(), partner), h)

	// Without a proof the same client gets a Bearer token without cnf.
	r := e.postToken(t, nil, ccForm(), partner)
	if r.status != http.StatusOK || r.json(t)["token_type"] != "Bearer" {
		t.Fatalf("no proof: %d %s", r.status, r.body)
	}
	_, claims := decodeJWT(t, r.json(t)["access_token"].(string))
	if _, ok := claims["cnf"]; ok {
		t.Errorf("a Bearer token has cnf %v", claims["cnf"])
	}

	// A nonce to build the refusals with.
	nr := e.do(nil, request{path: "/oauth2/token", body: ccForm().Encode(), basic: partner,
		headers: map[string]string{"DPoP": h.proof(t, e, e.url("/oauth2/token"), "")}})
	nonce := nr.header.Get("DPoP-Nonce")
	replayed := h.proof(t, e, e.url("/oauth2/token"), nonce)
	if r := e.do(nil, request{path: "/oauth2/token", body: ccForm().Encode(), basic: partner,
		headers: map[string]string{"DPoP": replayed}}); r.status != http.StatusOK {
		t.Fatalf("first use of a proof: %d %s", r.status, r.body)
	}

	tests := []struct {
		name  string
		proof string
		code  string
	}{
		{"replayed proof", replayed, token.CodeInvalidDPoPProof},
		{"proof for another URI", h.proof(t, e, e.url("/oauth2/introspect"), nonce), token.CodeInvalidDPoPProof},
		{"not a JWT", "not-a-proof", token.CodeInvalidDPoPProof},
		{"forged nonce", h.proof(t, e, e.url("/oauth2/token"), "Zm9yZ2Vk"), token.CodeUseDPoPNonce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(nil, request{path: "/oauth2/token", body: ccForm().Encode(), basic: partner,
				headers: map[string]string{"DPoP": tt.proof}})
			assertOAuthError(t, r, http.StatusBadRequest, tt.code)
		})
	}
}

func TestDPoPBoundClientNeedsProof(t *testing.T) {
	e := newEnv(t)
	bound := e.create(&clientsv1.Client{
		Name: "Bound", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"orders:read"}, DpopBoundAccessTokens: true,
	})
	r := e.postToken(t, nil, ccForm(), basic(bound.id, bound.secret))
	assertOAuthError(t, r, http.StatusBadRequest, token.CodeInvalidDPoPProof)
	if !e.audited(token.ReasonInvalidDPoPProof) {
		t.Error("a missing proof was not audited")
	}
	h := newDPoPHolder(t)
	assertDPoPToken(t, e.postToken(t, h, ccForm(), basic(bound.id, bound.secret)), h)
}

func TestDPoPMetadata(t *testing.T) {
	e := newEnv(t)
	r := e.do(nil, request{method: http.MethodGet, path: "/.well-known/openid-configuration", ctype: "-"})
	algs, _ := r.json(t)["dpop_signing_alg_values_supported"].([]any)
	if len(algs) != 2 || algs[0] != "ES256" || algs[1] != "EdDSA" {
		t.Errorf("dpop_signing_alg_values_supported %v, want [ES256 EdDSA]", algs)
	}
}

// TestDPoPCodeAndRefresh: dpop_jkt binds the code (RFC 9449 §10), and a
// public client's refresh tokens are bound to the key that got them (§5).
func TestDPoPCodeAndRefresh(t *testing.T) {
	for _, be := range flowBackends {
		t.Run(be.name, func(t *testing.T) { testDPoPCodeAndRefresh(t, be.opt) })
	}
}

func testDPoPCodeAndRefresh(t *testing.T, opt envOption) {
	e := newEnv(t, opt)
	h, other := newDPoPHolder(t), newDPoPHolder(t)
	verifier, challenge := pkce("dpop")
	codeForm := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {e.spa.id},
			"code_verifier": {verifier}, "redirect_uri": {spaRedirect}}
	}
	boundCode := func(a *agent) string {
		r := a.get(e.authorizeURL(e.spa, spaRedirect, "s", challenge, "dpop_jkt", h.JKT))
		if r.status == http.StatusOK {
			r = a.signIn(r, alicePassword)
		}
		loc, err := url.Parse(r.header.Get("Location"))
		if r.status != http.StatusSeeOther || err != nil || loc.Query().Get("code") == "" {
			t.Fatalf("authorize: %d %s", r.status, r.header.Get("Location"))
		}
		return loc.Query().Get("code")
	}
	a := e.agent()

	// Exchanged with another key, or with none: refused.
	assertOAuthError(t, e.postToken(t, other, codeForm(boundCode(a)), nil), http.StatusBadRequest, token.CodeInvalidGrant)
	assertOAuthError(t, e.postToken(t, nil, codeForm(boundCode(a)), nil), http.StatusBadRequest, token.CodeInvalidGrant)
	if !e.audited(token.ReasonDPoPBindingMismatch) {
		t.Error("a code exchanged with another key was not audited")
	}

	// With the key it names: a DPoP token and a bound refresh token.
	body := assertDPoPToken(t, e.postToken(t, h, codeForm(boundCode(a)), nil), h)
	rt, _ := body["refresh_token"].(string)
	if rt == "" {
		t.Fatal("no refresh token")
	}
	refreshForm := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {e.spa.id}}
	assertOAuthError(t, e.postToken(t, nil, refreshForm, nil), http.StatusBadRequest, token.CodeInvalidGrant)
	assertOAuthError(t, e.postToken(t, other, refreshForm, nil), http.StatusBadRequest, token.CodeInvalidGrant)
	// The refusals did not spend it.
	body = assertDPoPToken(t, e.postToken(t, h, refreshForm, nil), h)
	next, _ := body["refresh_token"].(string)
	refreshForm.Set("refresh_token", next)
	assertOAuthError(t, e.postToken(t, other, refreshForm, nil), http.StatusBadRequest, token.CodeInvalidGrant)
	assertDPoPToken(t, e.postToken(t, h, refreshForm, nil), h)

	// A malformed dpop_jkt is refused at the authorization endpoint.
	r := a.get(e.authorizeURL(e.spa, spaRedirect, "s", challenge, "dpop_jkt", "short"))
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("malformed dpop_jkt: %d %s", r.status, r.header.Get("Location"))
	}
}

// TestDPoPTokenAtIntrospectionAndUserInfo: introspection reports the
// binding (RFC 9449 §6.2); UserInfo takes a DPoP-bound token with the DPoP
// scheme and a proof by its key, never as a bearer token.
func TestDPoPTokenAtIntrospectionAndUserInfo(t *testing.T) {
	e := newEnv(t, withFlow())
	h := newDPoPHolder(t)
	verifier, challenge := pkce("userinfo")
	a := e.agent()
	r := a.get(e.authorizeURL(e.spa, spaRedirect, "s", challenge, "scope", "openid orders:read"))
	if r.status == http.StatusOK {
		r = a.signIn(r, alicePassword)
	}
	loc, _ := url.Parse(r.header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("authorize: %d %s", r.status, r.header.Get("Location"))
	}
	body := assertDPoPToken(t, e.postToken(t, h, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"client_id": {e.spa.id}, "code_verifier": {verifier}, "redirect_uri": {spaRedirect}}, nil), h)
	tok := body["access_token"].(string)

	ir := e.do(nil, request{path: "/oauth2/introspect", basic: basic(e.introspector.id, e.introspector.secret), body: "token=" + url.QueryEscape(tok)})
	got := ir.json(t)
	if cnf, _ := got["cnf"].(map[string]any); got["active"] != true || got["token_type"] != "DPoP" || cnf["jkt"] != h.JKT {
		t.Errorf("introspection: %d %s", ir.status, ir.body)
	}

	ur := e.do(nil, request{method: http.MethodGet, path: "/oauth2/userinfo", ctype: "-", authz: "Bearer " + tok})
	if ur.status != http.StatusUnauthorized || !e.audited(token.ReasonDPoPBindingMismatch) {
		t.Errorf("UserInfo with a DPoP-bound token as Bearer: %d %s", ur.status, ur.body)
	}
	// With the DPoP scheme and a proof by its key, for GET UserInfo.
	userinfo := e.url("/oauth2/userinfo")
	other := newDPoPHolder(t)
	for _, c := range []struct {
		name   string
		proof  string
		status int
	}{
		{"the key's proof", h.resourceProof(t, e, "GET", userinfo, tok), http.StatusOK},
		{"another key's proof", other.resourceProof(t, e, "GET", userinfo, tok), http.StatusUnauthorized},
		{"a proof for POST", h.resourceProof(t, e, "POST", userinfo, tok), http.StatusUnauthorized},
		{"no proof", "", http.StatusUnauthorized},
	} {
		req := request{method: http.MethodGet, path: "/oauth2/userinfo", ctype: "-", authz: "DPoP " + tok}
		if c.proof != "" {
			req.headers = map[string]string{"DPoP": c.proof}
		}
		r := e.do(nil, req)
		if r.status != c.status {
			t.Errorf("UserInfo, %s: %d %s", c.name, r.status, r.body)
		}
		if c.status == http.StatusOK && r.json(t)["sub"] != aliceID {
			t.Errorf("UserInfo, %s: %s", c.name, r.body)
		}
		if c.status != http.StatusOK && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "DPoP ") {
			t.Errorf("UserInfo, %s: WWW-Authenticate %q, want a DPoP challenge", c.name, r.header.Get("WWW-Authenticate"))
		}
	}
}

// resourceProof is a proof for htm htu at the env's clock that hashes the
// access token (ath), as a resource wants it.
func (h *dpopHolder) resourceProof(t *testing.T, e *env, htm, htu, tok string) string {
	t.Helper()
	return h.ProofAt(t, e.clock.Now(), htm, htu, "", tok)
}

// TestDPoPGRPCIssue: over gRPC the caller's DPoP-bound credential (its
// proof checked by the interceptor) binds the new token to the same key,
// and a client registered for DPoP gets no token with any other
// credential.
func TestDPoPGRPCIssue(t *testing.T) {
	e := newEnv(t)
	bound := e.create(&clientsv1.Client{
		Name: "Bound", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"orders:read"}, DpopBoundAccessTokens: true,
	})
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	withKey := func(clientID, jkt string) context.Context {
		return authn.NewContext(context.Background(), &authn.Principal{
			Subject: clientID, ClientID: clientID, Kind: authv1.CredentialKind_CREDENTIAL_KIND_JWT,
			Scopes: []string{"orders:read", "gatehouse:token.issue"}, Trust: authn.TrustBearer, DPoPJKT: jkt,
		})
	}
	tests := []struct {
		name     string
		ctx      context.Context
		code     codes.Code
		wantType string
	}{
		{"bound client with a DPoP-bound credential", withKey(bound.id, jkt), codes.OK, "DPoP"},
		{"bound client with a bearer credential", withKey(bound.id, ""), codes.PermissionDenied, ""},
		{"other client with a DPoP-bound credential", withKey(e.partner.id, jkt), codes.OK, "DPoP"},
		{"other client with a bearer credential", withKey(e.partner.id, ""), codes.OK, "Bearer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.svc.IssueClientCredentialsToken(tc.ctx, &tokenv1.IssueClientCredentialsTokenRequest{})
			if status.Code(err) != tc.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, tc.code)
			}
			if err != nil {
				return
			}
			_, claims := decodeJWT(t, resp.GetAccessToken())
			cnf, _ := claims["cnf"].(map[string]any)
			if resp.GetTokenType() != tc.wantType || (tc.wantType == "DPoP") != (cnf["jkt"] == jkt) {
				t.Errorf("token_type %q, cnf %v", resp.GetTokenType(), claims["cnf"])
			}
		})
	}
}
