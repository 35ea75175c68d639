package token_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
)

// oidcCode runs the front channel with extra authorization parameters and
// returns the code; the agent keeps its session.
func (e *env) oidcCode(a *agent, cl registered, redirect, challenge string, extra ...string) string {
	e.t.Helper()
	r := a.get(e.authorizeURL(cl, redirect, "s", challenge, extra...))
	if r.status == http.StatusOK {
		r = a.signIn(r, alicePassword)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || err != nil || loc.Query().Get("code") == "" {
		e.t.Fatalf("authorize: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	return loc.Query().Get("code")
}

// jwtParts verifies a compact JWS with the test key and returns its header
// and claims.
func (e *env) jwtParts(tok string) (header, claims map[string]any) {
	e.t.Helper()
	payload, err := jws.Verify([]byte(tok), jws.WithKey(jwa.ES256, e.pub))
	if err != nil {
		e.t.Fatalf("signature: %v", err)
	}
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(h, &header); err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		e.t.Fatal(err)
	}
	return header, claims
}

func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// TestIDToken is checklist item 81: with openid, the code exchange returns
// an ID token with exactly the claims OpenID Connect Core §2 and
// §3.1.3.6-7 require, the nonce byte for byte; a refresh returns one with
// the same sub, aud, azp, auth_time and sid and no nonce (§12.2); without
// openid there is none.
func TestIDToken(t *testing.T) {
	e := newEnv(t, withFlow())
	nonces := map[string]string{
		"plain":   "n-0S6_WzA2Mj",
		"unicode": "ñónçé ✓ \u2028 \"quoted\" <tag> & 🙂",
		"255":     strings.Repeat("x", 255),
	}
	for name, nonce := range nonces {
		t.Run("nonce "+name, func(t *testing.T) {
			a := e.agent()
			v, ch := pkce("oidc" + name)
			code := e.oidcCode(a, e.spa, spaRedirect, ch, "scope", "openid orders:read", "nonce", nonce)
			r := e.exchange(e.spa, code, v, spaRedirect)
			tok := r.json(t)
			idt, ok := tok["id_token"].(string)
			if !ok {
				t.Fatalf("no id_token: %s", r.body)
			}
			h, c := e.jwtParts(idt)
			if h["typ"] != "JWT" || h["kid"] != "k1" || h["alg"] != "ES256" {
				t.Errorf("header %v", h)
			}
			if c["nonce"] != nonce {
				t.Errorf("nonce = %q, want %q", c["nonce"], nonce)
			}
			want := map[string]any{"iss": e.issuer, "sub": aliceID, "aud": e.spa.id, "azp": e.spa.id,
				"at_hash": atHash(tok["access_token"].(string))}
			for k, v := range want {
				if c[k] != v {
					t.Errorf("%s = %v, want %v", k, c[k], v)
				}
			}
			iat, exp, authTime := c["iat"].(float64), c["exp"].(float64), c["auth_time"].(float64)
			if exp-iat != 300 || authTime == 0 || authTime > iat {
				t.Errorf("iat %v exp %v auth_time %v: want a 5-minute ID token after the sign-in", iat, exp, authTime)
			}
			if sid, _ := c["sid"].(string); len(sid) != 22 {
				t.Errorf("sid = %v", c["sid"])
			}
			if amr, _ := c["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
				t.Errorf("amr = %v", c["amr"])
			}
			for _, k := range []string{"email", "name"} {
				if _, ok := c[k]; ok {
					t.Errorf("%s without its scope", k)
				}
			}

			e.clock.Advance(time.Minute)
			rr := e.refresh(e.spa, tok["refresh_token"].(string), "")
			rt := rr.json(t)
			_, rc := e.jwtParts(rt["id_token"].(string))
			for _, k := range []string{"iss", "sub", "aud", "azp", "auth_time", "sid"} {
				if rc[k] != c[k] {
					t.Errorf("refreshed %s = %v, first %v", k, rc[k], c[k])
				}
			}
			if _, ok := rc["nonce"]; ok {
				t.Error("a refreshed ID token carries the nonce")
			}
			if rc["at_hash"] != atHash(rt["access_token"].(string)) {
				t.Error("the refreshed ID token's at_hash is not its access token's")
			}
		})
	}
	t.Run("profile and email claims", func(t *testing.T) {
		a := e.agent()
		v, ch := pkce("profile")
		code := e.oidcCode(a, e.spa, spaRedirect, ch, "scope", "openid profile email")
		_, c := e.jwtParts(e.exchange(e.spa, code, v, spaRedirect).json(t)["id_token"].(string))
		want := map[string]any{"email": aliceEmail, "email_verified": true, "name": "Alice Liddell",
			"given_name": "Alice", "family_name": "Liddell", "preferred_username": "alice", "locale": "en-GB",
			"updated_at": float64(aliceClaims.UpdatedAt.Unix())}
		for k, v := range want {
			if c[k] != v {
				t.Errorf("%s = %v, want %v", k, c[k], v)
			}
		}
	})
	t.Run("offline_access, address and phone are ignored", func(t *testing.T) {
		a := e.agent()
		v, ch := pkce("ignored")
		code := e.oidcCode(a, e.spa, spaRedirect, ch, "scope", "openid offline_access address phone")
		tok := e.exchange(e.spa, code, v, spaRedirect).json(t)
		if tok["scope"] != "openid" || tok["id_token"] == nil || tok["refresh_token"] == nil {
			t.Errorf("token response %v, want scope openid with an ID token and a refresh token", tok)
		}
	})
	t.Run("without openid", func(t *testing.T) {
		a := e.agent()
		v, ch := pkce("no-openid")
		code := e.oidcCode(a, e.spa, spaRedirect, ch, "scope", "orders:read")
		if tok := e.exchange(e.spa, code, v, spaRedirect).json(t); tok["id_token"] != nil {
			t.Errorf("an ID token without openid: %v", tok)
		}
	})
	t.Run("a third-party client not registered for openid", func(t *testing.T) {
		a := e.agent()
		_, ch := pkce("3p")
		r := a.get(e.authorizeURL(e.partnerApp, "https://partner.example/cb", "s", ch, "scope", "openid"))
		if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || !strings.Contains(loc, "error=invalid_scope") {
			t.Errorf("openid for a third party: %d %s", r.status, loc)
		}
	})
}

// TestIDTokenIsNotAnAccessToken is checklist item 82 at introspection: an
// ID token is not an active access token (the typ check of every
// validator; pkg/authn.TestJWTHeader/9_ID_token_typ_JWT covers the APIs).
func TestIDTokenIsNotAnAccessToken(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	v, ch := pkce("confusion")
	tok := e.exchange(e.spa, e.oidcCode(a, e.spa, spaRedirect, ch, "scope", "openid"), v, spaRedirect).json(t)
	for name, want := range map[string]bool{"id_token": false, "access_token": true} {
		r := e.introspect(e.introspector, url.Values{"token": {tok[name].(string)}}.Encode()).json(t)
		if r["active"] != want {
			t.Errorf("introspection of the %s: %v, want active %v", name, r, want)
		}
	}
}

// TestUserInfo is checklist item 84.
func TestUserInfo(t *testing.T) {
	e := newEnv(t, withFlow())
	tokens := func(scope string) map[string]any {
		a := e.agent()
		v, ch := pkce("ui" + strings.NewReplacer(" ", "", ":", "").Replace(scope))
		code := e.oidcCode(a, e.spa, spaRedirect, ch, "scope", scope)
		return e.exchange(e.spa, code, v, spaRedirect).json(t)
	}
	full := tokens("openid profile email")
	at := full["access_token"].(string)
	_, idc := e.jwtParts(full["id_token"].(string))
	noOpenID := tokens("orders:read")["access_token"].(string)
	onlyOpenID := tokens("openid")["access_token"].(string)

	for _, tc := range []struct {
		name    string
		req     request
		status  int
		code    string
		members []string
	}{
		{"GET with the header", request{method: http.MethodGet, path: "/oauth2/userinfo", ctype: "-", authz: "Bearer " + at}, 200, "",
			[]string{"sub", "name", "given_name", "family_name", "preferred_username", "locale", "updated_at", "email", "email_verified"}},
		{"POST with the header", request{path: "/oauth2/userinfo", ctype: "-", authz: "Bearer " + at}, 200, "",
			[]string{"sub", "name", "given_name", "family_name", "preferred_username", "locale", "updated_at", "email", "email_verified"}},
		{"POST with a form body", request{path: "/oauth2/userinfo", body: url.Values{"access_token": {at}}.Encode()}, 200, "",
			[]string{"sub", "name", "given_name", "family_name", "preferred_username", "locale", "updated_at", "email", "email_verified"}},
		{"openid alone: sub only", request{method: http.MethodGet, path: "/oauth2/userinfo", ctype: "-", authz: "Bearer " + onlyOpenID}, 200, "", []string{"sub"}},
		{"no openid", request{method: http.MethodGet, path: "/oauth2/userinfo", ctype: "-", authz: "Bearer " + noOpenID}, 403, "insufficient_scope", nil},
		{"no token", request{method: http.MethodGet, path: "/oauth2/userinfo", ctype: "-"}, 401, "", nil},
		{"token in the query", request{method: http.MethodGet, path: "/oauth2/userinfo", ctype: "-", query: "access_token=" + at}, 401, "", nil},
		{"the ID token as a bearer", request{method: http.MethodGet, path: "/oauth2/userinfo", ctype: "-", authz: "Bearer " + full["id_token"].(string)}, 401, "invalid_token", nil},
		{"a forged token", request{method: http.MethodGet, path: "/oauth2/userinfo", ctype: "-", authz: "Bearer " + at[:len(at)-4] + "AAAA"}, 401, "invalid_token", nil},
		{"header and body", request{path: "/oauth2/userinfo", authz: "Bearer " + at, body: url.Values{"access_token": {at}}.Encode()}, 400, "invalid_request", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(nil, tc.req)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
			if tc.status == 200 {
				m := r.json(t)
				if m["sub"] != idc["sub"] {
					t.Errorf("sub %v, the ID token's %v", m["sub"], idc["sub"])
				}
				if len(m) != len(tc.members) {
					t.Errorf("members %v, want %v", m, tc.members)
				}
				for _, k := range tc.members {
					if _, ok := m[k]; !ok {
						t.Errorf("no %s in %v", k, m)
					}
				}
				return
			}
			ch := r.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer ") || (tc.code != "" && !strings.Contains(ch, `error="`+tc.code+`"`)) {
				t.Errorf("WWW-Authenticate %q, want error %q", ch, tc.code)
			}
		})
	}
	t.Run("a revoked token", func(t *testing.T) {
		tok := tokens("openid email")
		if r := e.do(nil, request{path: "/oauth2/revoke", body: url.Values{"token": {tok["refresh_token"].(string)}, "client_id": {e.spa.id}}.Encode()}); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		r := e.do(nil, request{method: http.MethodGet, path: "/oauth2/userinfo", ctype: "-", authz: "Bearer " + tok["access_token"].(string)})
		if r.status != 401 {
			t.Errorf("after revocation: %d %s", r.status, r.body)
		}
	})
	t.Run("a disabled user", func(t *testing.T) {
		e.users.disabled.Store(true)
		defer e.users.disabled.Store(false)
		r := e.do(nil, request{method: http.MethodGet, path: "/oauth2/userinfo", ctype: "-", authz: "Bearer " + at})
		if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("disabled user: %d %v", r.status, r.header)
		}
	})
}

// TestAuthorizeOIDCParameters covers checklist items 83 and 85.
func TestAuthorizeOIDCParameters(t *testing.T) {
	e := newEnv(t, withFlow())
	_, ch := pkce("params")
	// signedIn is an agent whose session began 10 minutes ago.
	const signedIn, signedOut = true, false
	for _, tc := range []struct {
		name  string
		agent bool
		extra []string
		// want: "login" (the login page), "code", or an error code in
		// the redirect.
		want string
	}{
		{"session, no parameters", signedIn, nil, "code"},
		{"max_age=0 forces the login page", signedIn, []string{"max_age", "0"}, "login"},
		{"max_age shorter than the session's age", signedIn, []string{"max_age", "300"}, "login"},
		{"max_age longer than the session's age", signedIn, []string{"max_age", "3600"}, "code"},
		{"prompt=login", signedIn, []string{"prompt", "login"}, "login"},
		{"prompt=none with a session", signedIn, []string{"prompt", "none"}, "code"},
		{"prompt=none with a too old session", signedIn, []string{"prompt", "none", "max_age", "60"}, "login_required"},
		{"prompt=none without a session", signedOut, []string{"prompt", "none"}, "login_required"},
		{"prompt=none login", signedIn, []string{"prompt", "none login"}, "invalid_request"},
		{"prompt=select_account", signedIn, []string{"prompt", "select_account"}, "account_selection_required"},
		{"prompt=unknown", signedIn, []string{"prompt", "pick"}, "invalid_request"},
		{"max_age not a number", signedIn, []string{"max_age", "soon"}, "invalid_request"},
		{"max_age negative", signedIn, []string{"max_age", "-1"}, "invalid_request"},
		{"request object", signedIn, []string{"request", "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"},
		{"request_uri", signedIn, []string{"request_uri", "https://rp.example/req"}, "request_uri_not_supported"},
		{"response_mode=fragment", signedIn, []string{"response_mode", "fragment"}, "invalid_request"},
		{"response_mode=form_post", signedIn, []string{"response_mode", "form_post"}, "invalid_request"},
		{"response_mode=query", signedIn, []string{"response_mode", "query"}, "code"},
		{"claims", signedIn, []string{"claims", `{"id_token":{"email":{"essential":true}}}`}, "invalid_request"},
		{"ui_locales is accepted", signedIn, []string{"ui_locales", "fr-CA fr en"}, "code"},
		{"nonce too long", signedIn, []string{"nonce", strings.Repeat("n", 1025)}, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.agent()
			if tc.agent == signedIn {
				e.oidcCode(a, e.spa, spaRedirect, ch, "scope", "openid")
				e.clock.Advance(10 * time.Minute)
			}
			r := a.get(e.authorizeURL(e.spa, spaRedirect, "st", ch, append([]string{"scope", "openid"}, tc.extra...)...))
			loc, _ := url.Parse(r.header.Get("Location"))
			switch tc.want {
			case "login":
				if r.status != http.StatusOK || !strings.Contains(string(r.body), `name="password"`) {
					t.Fatalf("want the login page: %d %s", r.status, loc)
				}
				// Signing in goes on to the code at once: prompt=login
				// and max_age=0 do not ask again.
				if s := a.signIn(r, alicePassword); s.status != http.StatusSeeOther || !strings.Contains(s.header.Get("Location"), "code=") {
					t.Fatalf("after signing in: %d %s", s.status, s.header.Get("Location"))
				}
			case "code":
				if r.status != http.StatusSeeOther || loc.Query().Get("code") == "" {
					t.Fatalf("want a code: %d %s %s", r.status, loc, r.body)
				}
			default:
				if r.status != http.StatusSeeOther || loc.Query().Get("error") != tc.want || loc.Query().Get("state") != "st" {
					t.Fatalf("want error %s: %d %s", tc.want, r.status, loc)
				}
			}
		})
	}
	t.Run("a POST authorization request", func(t *testing.T) {
		a := e.agent()
		e.oidcCode(a, e.spa, spaRedirect, ch, "scope", "openid")
		u, _ := url.Parse(e.authorizeURL(e.spa, spaRedirect, "st", ch, "scope", "openid", "nonce", "post"))
		r := a.post("/oauth2/authorize", u.Query(), "")
		if loc, _ := url.Parse(r.header.Get("Location")); r.status != http.StatusSeeOther || loc.Query().Get("code") == "" {
			t.Fatalf("POST authorize: %d %s %s", r.status, loc, r.body)
		}
	})
	t.Run("login_hint fills the email", func(t *testing.T) {
		r := e.agent().get(e.authorizeURL(e.spa, spaRedirect, "st", ch, "scope", "openid", "login_hint", "hint@example.com"))
		if !strings.Contains(string(r.body), `value="hint@example.com"`) {
			t.Errorf("login_hint not in the form: %s", r.body)
		}
	})
}

// TestIDTokenHint is checklist item 82's id_token_hint half: an ID token
// of this server is accepted, an access token is not.
func TestIDTokenHint(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	v, ch := pkce("hint")
	tok := e.exchange(e.spa, e.oidcCode(a, e.spa, spaRedirect, ch, "scope", "openid"), v, spaRedirect).json(t)
	for _, tc := range []struct {
		name, hint, want string
	}{
		{"the ID token", tok["id_token"].(string), "code"},
		{"an access token", tok["access_token"].(string), "invalid_request"},
		{"garbage", "not.a.jwt", "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.get(e.authorizeURL(e.spa, spaRedirect, "st", ch, "scope", "openid", "prompt", "none", "id_token_hint", tc.hint))
			loc, _ := url.Parse(r.header.Get("Location"))
			got := loc.Query().Get("error")
			if loc.Query().Get("code") != "" {
				got = "code"
			}
			if got != tc.want {
				t.Errorf("got %q (%s), want %q", got, loc, tc.want)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		e.clock.Advance(6 * time.Minute)
		r := a.get(e.authorizeURL(e.spa, spaRedirect, "st", ch, "scope", "openid", "id_token_hint", tok["id_token"].(string)))
		if loc, _ := url.Parse(r.header.Get("Location")); loc.Query().Get("error") != "invalid_request" {
			t.Errorf("an expired hint at authorize: %s", loc)
		}
	})
}

// TestDiscovery is checklist item 88: every REQUIRED field and the ones
// used; the RFC 8414 document keeps its own content.
func TestDiscovery(t *testing.T) {
	e := newEnv(t, withFlow())
	r := e.do(nil, request{method: http.MethodGet, path: "/.well-known/openid-configuration", ctype: "-"})
	m := r.json(t)
	for k, want := range map[string]any{
		"issuer": e.issuer, "authorization_endpoint": e.issuer + "/oauth2/authorize", "token_endpoint": e.issuer + "/oauth2/token",
		"jwks_uri": e.issuer + "/.well-known/jwks.json", "userinfo_endpoint": e.issuer + "/oauth2/userinfo",
		"end_session_endpoint": e.issuer + "/oauth2/logout", "claims_parameter_supported": false,
		"request_parameter_supported": false, "request_uri_parameter_supported": false,
		"backchannel_logout_supported": true, "backchannel_logout_session_supported": true,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	for k, want := range map[string][]string{
		"response_types_supported": {"code"}, "subject_types_supported": {"public"},
		"id_token_signing_alg_values_supported": {"ES256"}, "response_modes_supported": {"query"},
		"scopes_supported": {"openid", "profile", "email", "orders:read"}, "claims_supported": {"sub", "nonce", "sid", "email"},
		"prompt_values_supported": {"none", "login", "consent"},
	} {
		have := map[string]bool{}
		list, _ := m[k].([]any)
		for _, v := range list {
			have[v.(string)] = true
		}
		for _, w := range want {
			if !have[w] {
				t.Errorf("%s = %v, lacks %s", k, m[k], w)
			}
		}
	}
	oauth := e.do(nil, request{method: http.MethodGet, rawURL: issuerOrigin(e.issuer) + "/.well-known/oauth-authorization-server", ctype: "-"}).json(t)
	if _, ok := oauth["userinfo_endpoint"]; ok {
		t.Error("the RFC 8414 document gained the OpenID Connect fields")
	}
}

// TestRPInitiatedLogout is checklist item 86.
func TestRPInitiatedLogout(t *testing.T) {
	e := newEnv(t, withFlow())
	const after = "https://app.example/signed-out"
	rp := e.create(&clientsv1.Client{
		Name: "OIDC app", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, Public: true,
		GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectUris: []string{spaRedirect},
		Scopes: []string{"orders:read"}, PostLogoutRedirectUris: []string{after},
	})
	signIn := func(t *testing.T) (*agent, map[string]any) {
		a := e.agent()
		v, ch := pkce("logout")
		return a, e.exchange(rp, e.oidcCode(a, rp, spaRedirect, ch, "scope", "openid"), v, spaRedirect).json(t)
	}
	logout := func(a *agent, q url.Values) response { return a.get(e.url("/oauth2/logout?" + q.Encode())) }
	stillSignedIn := func(t *testing.T, a *agent, want bool) {
		t.Helper()
		_, ch := pkce("check")
		r := a.get(e.authorizeURL(rp, spaRedirect, "s", ch, "scope", "openid", "prompt", "none"))
		if got := strings.Contains(r.header.Get("Location"), "code="); got != want {
			t.Errorf("signed in after the logout request: %v, want %v (%s)", got, want, r.header.Get("Location"))
		}
	}

	t.Run("a hint of the session: at once, back with state, grants revoked", func(t *testing.T) {
		a, tok := signIn(t)
		r := logout(a, url.Values{"id_token_hint": {tok["id_token"].(string)}, "post_logout_redirect_uri": {after}, "state": {"x y"}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != after+"?state=x+y" {
			t.Fatalf("logout: %d %s %s", r.status, r.header.Get("Location"), r.body)
		}
		stillSignedIn(t, a, false)
		if rr := e.refresh(rp, tok["refresh_token"].(string), ""); rr.json(t)["error"] != "invalid_grant" {
			t.Errorf("refresh after logout: %s", rr.body)
		}
	})
	t.Run("an expired hint still names the session", func(t *testing.T) {
		a, tok := signIn(t)
		e.clock.Advance(time.Hour)
		r := logout(a, url.Values{"id_token_hint": {tok["id_token"].(string)}, "post_logout_redirect_uri": {after}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != after {
			t.Fatalf("logout: %d %s", r.status, r.header.Get("Location"))
		}
	})
	t.Run("an unregistered post_logout_redirect_uri: no redirect", func(t *testing.T) {
		a, tok := signIn(t)
		r := logout(a, url.Values{"id_token_hint": {tok["id_token"].(string)}, "post_logout_redirect_uri": {"https://evil.example/"}})
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
			t.Fatalf("logout: %d %s", r.status, r.header.Get("Location"))
		}
		stillSignedIn(t, a, true)
	})
	t.Run("an access token as id_token_hint is refused", func(t *testing.T) {
		a, tok := signIn(t)
		r := logout(a, url.Values{"id_token_hint": {tok["access_token"].(string)}, "post_logout_redirect_uri": {after}})
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
			t.Fatalf("logout: %d %s", r.status, r.header.Get("Location"))
		}
		stillSignedIn(t, a, true)
	})
	t.Run("no hint: the user is asked, then sent back", func(t *testing.T) {
		a, _ := signIn(t)
		r := logout(a, url.Values{"client_id": {rp.id}, "post_logout_redirect_uri": {after}, "state": {"s1"}})
		if r.status != http.StatusOK || !strings.Contains(string(r.body), "OIDC app") {
			t.Fatalf("want the confirmation page: %d %s", r.status, r.body)
		}
		stillSignedIn(t, a, true)
		c := a.post("/oauth2/logout", fields(r.body), issuerOrigin(e.issuer))
		if c.status != http.StatusSeeOther || c.header.Get("Location") != after+"?state=s1" {
			t.Fatalf("confirmed: %d %s", c.status, c.header.Get("Location"))
		}
		stillSignedIn(t, a, false)
	})
}

// TestBackchannelLogout is checklist item 87: the logout token's form, and
// a receiver that hangs never delays the user's sign-out.
func TestBackchannelLogout(t *testing.T) {
	e := newEnv(t, withFlow())
	var (
		mu       sync.Mutex
		received []string
		hang     = make(chan struct{})
	)
	got := make(chan struct{}, 4)
	rpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		b, _ := io.ReadAll(r.Body)
		f, _ := url.ParseQuery(string(b))
		mu.Lock()
		received = append(received, f.Get("logout_token"))
		mu.Unlock()
		got <- struct{}{}
	}))
	t.Cleanup(rpSrv.Close)
	// Cleanups run last first: the hanging handler returns before the
	// server waits for it.
	t.Cleanup(func() { close(hang) })
	register := func(name, path string) registered {
		return e.create(&clientsv1.Client{
			Name: name, Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, Public: true,
			GrantTypes: []string{"authorization_code"}, RedirectUris: []string{spaRedirect},
			Scopes: []string{"orders:read"}, BackchannelLogoutUri: rpSrv.URL + path,
			BackchannelLogoutSessionRequired: true,
		})
	}
	good, slow := register("Listening app", "/logout"), register("Hanging app", "/hang")
	a := e.agent()
	v, ch := pkce("bc")
	tok := e.exchange(good, e.oidcCode(a, good, spaRedirect, ch, "scope", "openid", "nonce", "n1"), v, spaRedirect).json(t)
	e.exchange(slow, e.oidcCode(a, slow, spaRedirect, ch, "scope", "openid"), v, spaRedirect)
	_, idc := e.jwtParts(tok["id_token"].(string))

	start := time.Now()
	r := a.get(e.url("/oauth2/logout?" + url.Values{"id_token_hint": {tok["id_token"].(string)}}.Encode()))
	if d := time.Since(start); r.status != http.StatusOK || d > 2*time.Second {
		t.Fatalf("logout: %d after %v", r.status, d)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no logout token arrived")
	}
	mu.Lock()
	lt := received[0]
	mu.Unlock()
	h, c := e.jwtParts(lt)
	if h["typ"] != "logout+jwt" {
		t.Errorf("typ %v", h["typ"])
	}
	if _, ok := c["nonce"]; ok {
		t.Error("a logout token with a nonce")
	}
	ev, _ := c["events"].(map[string]any)
	if _, ok := ev["http://schemas.openid.net/event/backchannel-logout"]; !ok || len(ev) != 1 {
		t.Errorf("events %v", c["events"])
	}
	for k, want := range map[string]any{"iss": e.issuer, "aud": good.id, "sub": aliceID, "sid": idc["sid"]} {
		if c[k] != want {
			t.Errorf("%s = %v, want %v", k, c[k], want)
		}
	}
	for _, k := range []string{"iat", "exp", "jti"} {
		if _, ok := c[k]; !ok {
			t.Errorf("no %s", k)
		}
	}
}

// TestNativeAppRedirect: a public first-party app with a private-use URI
// scheme redirect (RFC 8252 §7.1) gets its code there, with state and iss.
func TestNativeAppRedirect(t *testing.T) {
	e := newEnv(t, withFlow())
	const redirect = "com.example.app:/oauth2redirect"
	app := e.create(&clientsv1.Client{
		Name: "Mobile app", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, Public: true,
		GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectUris: []string{redirect},
		Scopes: []string{"orders:read"},
	})
	a := e.agent()
	v, ch := pkce("native")
	r := a.get(e.authorizeURL(app, redirect, "st", ch, "scope", "openid orders:read"))
	r = a.signIn(r, alicePassword)
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, redirect+"?code=") {
		t.Fatalf("authorization response: %d %s", r.status, loc)
	}
	u, err := url.Parse(loc)
	if err != nil || u.Query().Get("state") != "st" || u.Query().Get("iss") != e.issuer {
		t.Fatalf("authorization response %s: %v", loc, err)
	}
	if tok := e.exchange(app, u.Query().Get("code"), v, redirect).json(t); tok["id_token"] == nil || tok["refresh_token"] == nil {
		t.Errorf("exchange: %v", tok)
	}
}

// TestReauthenticationKeepsTheSession: signing in again in a browser that
// has a session of the same user (prompt=login) keeps that session and its
// sid, so a logout afterwards ends the grants made before the new sign-in
// too; a sign-in as another user ends the first user's session.
func TestReauthenticationKeepsTheSession(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	v, ch := pkce("reauth")
	first := e.exchange(e.spa, e.oidcCode(a, e.spa, spaRedirect, ch, "scope", "openid"), v, spaRedirect).json(t)
	e.clock.Advance(time.Minute)
	second := e.exchange(e.spa, e.oidcCode(a, e.spa, spaRedirect, ch, "scope", "openid", "prompt", "login"), v, spaRedirect).json(t)
	_, c1 := e.jwtParts(first["id_token"].(string))
	_, c2 := e.jwtParts(second["id_token"].(string))
	if c1["sid"] != c2["sid"] || c2["auth_time"].(float64) <= c1["auth_time"].(float64) {
		t.Fatalf("after prompt=login: sid %v then %v, auth_time %v then %v; want the same sid and a later auth_time", c1["sid"], c2["sid"], c1["auth_time"], c2["auth_time"])
	}
	r := a.get(e.url("/oauth2/logout?" + url.Values{"id_token_hint": {second["id_token"].(string)}}.Encode()))
	if r.status != http.StatusOK {
		t.Fatalf("logout: %d", r.status)
	}
	if rr := e.refresh(e.spa, first["refresh_token"].(string), ""); rr.json(t)["error"] != "invalid_grant" {
		t.Errorf("the grant made before the re-authentication outlived the logout: %s", rr.body)
	}
}
