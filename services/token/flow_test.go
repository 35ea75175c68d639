package token_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/services/token"
)

const spaRedirect = "https://app.example/cb"

// agent is a browser: a cookie jar, and no redirect followed.
type agent struct {
	e  *env
	hc *http.Client
}

func (e *env) agent() *agent {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &agent{e: e, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (a *agent) get(rawURL string) response {
	a.e.t.Helper()
	if strings.HasPrefix(rawURL, "/") { // a relative Location, as a browser resolves it
		rawURL = issuerOrigin(a.e.issuer) + rawURL
	}
	return a.e.do(a.hc, request{method: http.MethodGet, rawURL: rawURL, ctype: "-"})
}

func (a *agent) post(path string, form url.Values, origin string) response {
	a.e.t.Helper()
	h := map[string]string{}
	if origin != "" {
		h["Origin"] = origin
	}
	return a.e.do(a.hc, request{path: path, body: form.Encode(), headers: h})
}

var hidden = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)

func fields(body []byte) url.Values {
	v := url.Values{}
	for _, m := range hidden.FindAllSubmatch(body, -1) {
		v.Set(string(m[1]), unescapeHTML(string(m[2])))
	}
	return v
}

func unescapeHTML(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// pkce returns a verifier and its S256 challenge.
func pkce(seed string) (verifier, challenge string) {
	verifier = strings.Repeat("v", 43-len(seed)) + seed
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func (e *env) authorizeURL(cl registered, redirect, state, challenge string, extra ...string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {cl.id}, "state": {state}}
	if redirect != "" {
		q.Set("redirect_uri", redirect)
	}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			q.Del(extra[i])
		} else {
			q.Set(extra[i], extra[i+1])
		}
	}
	return e.url("/oauth2/authorize?" + q.Encode())
}

// signIn submits the login form of page as alice and returns the answer:
// the request goes on at once, to the client with a code (303) or to the
// consent page.
func (a *agent) signIn(page response, password string) response {
	a.e.t.Helper()
	f := fields(page.body)
	f.Set("email", aliceEmail)
	f.Set("password", password)
	return a.post("/oauth2/login", f, issuerOrigin(a.e.issuer))
}

func issuerOrigin(issuer string) string {
	u, _ := url.Parse(issuer)
	return u.Scheme + "://" + u.Host
}

// codeFor runs the whole front channel for cl and returns the code.
func (e *env) codeFor(a *agent, cl registered, challenge string) string {
	e.t.Helper()
	r := a.get(e.authorizeURL(cl, spaRedirect, "s", challenge))
	if r.status == http.StatusOK {
		r = a.signIn(r, alicePassword)
	}
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("authorize: %d %s", r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		e.t.Fatalf("no code in %s", r.header.Get("Location"))
	}
	return loc.Query().Get("code")
}

func (e *env) exchange(cl registered, code, verifier, redirect string) response {
	e.t.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {cl.id}}
	if verifier != "" {
		f.Set("code_verifier", verifier)
	}
	if redirect != "" {
		f.Set("redirect_uri", redirect)
	}
	return e.do(nil, request{path: "/oauth2/token", body: f.Encode()})
}

func (e *env) refresh(cl registered, rt, scope string) response {
	e.t.Helper()
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {cl.id}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return e.do(nil, request{path: "/oauth2/token", body: f.Encode()})
}

func assertPageHeaders(t *testing.T, r response) {
	t.Helper()
	for h, want := range map[string]string{
		"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
		"X-Frame-Options":         "DENY", "X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

// TestAuthorizeErrorPages: checklist items 37, 38 and 43 — without a
// trusted client and redirect URI there is an error page, never a
// redirect.
func TestAuthorizeErrorPages(t *testing.T) {
	e := newEnv(t, withFlow())
	_, ch := pkce("a")
	a := e.agent()
	cases := map[string]string{
		"unknown client":   e.authorizeURL(registered{id: "c_nope"}, spaRedirect, "s", ch),
		"missing client":   strings.Replace(e.authorizeURL(e.spa, spaRedirect, "s", ch), "client_id=", "x=", 1),
		"several uris":     e.authorizeURL(e.spa, "", "s", ch),
		"duplicated param": e.authorizeURL(e.spa, spaRedirect, "s", ch) + "&redirect_uri=" + url.QueryEscape(spaRedirect),
		"huge":             e.authorizeURL(e.spa, spaRedirect, strings.Repeat("x", 9000), ch),
	}
	for _, bad := range []string{
		spaRedirect + "/", spaRedirect + "?x=1", spaRedirect + "#f", "https://APP.example/cb", "https://app.example:443/cb",
		"http://app.example/cb", "https://app.example.evil.example/cb", "https://app.example@evil.example/cb",
		"https://app.example/cb/../x", "https://app.example%2Fcb", "http://localhost:49152/cb",
	} {
		cases["redirect "+bad] = e.authorizeURL(e.spa, bad, "s", ch)
	}
	for name, u := range cases {
		t.Run(name, func(t *testing.T) {
			r := a.get(u)
			if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
				t.Fatalf("%d, Location %q; want a 400 page", r.status, r.header.Get("Location"))
			}
			assertPageHeaders(t, r)
		})
	}
}

// TestAuthorizeRedirectErrors: checklist items 35, 36, 39, 40 — once the
// redirect URI is trusted, errors go back with state and iss.
func TestAuthorizeRedirectErrors(t *testing.T) {
	e := newEnv(t, withFlow())
	_, ch := pkce("a")
	long := strings.Repeat("s", 1500)
	tests := []struct {
		name  string
		url   string
		error string
		state string
	}{
		{"no challenge", e.authorizeURL(e.spa, spaRedirect, "s1", ""), "invalid_request", "s1"},
		{"plain", e.authorizeURL(e.spa, spaRedirect, "s1", ch, "code_challenge_method", "plain"), "invalid_request", "s1"},
		{"challenge without method", e.authorizeURL(e.spa, spaRedirect, "s1", ch, "code_challenge_method", ""), "invalid_request", "s1"},
		{"short challenge", e.authorizeURL(e.spa, spaRedirect, "s1", ch[:42]), "invalid_request", "s1"},
		{"token", e.authorizeURL(e.spa, spaRedirect, "s1", ch, "response_type", "token"), "unsupported_response_type", "s1"},
		{"code id_token", e.authorizeURL(e.spa, spaRedirect, "s1", ch, "response_type", "code id_token"), "unsupported_response_type", "s1"},
		{"no response_type", e.authorizeURL(e.spa, spaRedirect, "s1", ch, "response_type", ""), "invalid_request", "s1"},
		{"scope not allowed", e.authorizeURL(e.spa, spaRedirect, "s1", ch, "scope", "billing:read"), "invalid_scope", "s1"},
		{"long state, prompt none", e.authorizeURL(e.spa, spaRedirect, long, ch, "prompt", "none"), "login_required", long},
		{"no state", e.authorizeURL(e.spa, spaRedirect, "", ch, "prompt", "none"), "login_required", ""},
	}
	a := e.agent()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.get(tt.url)
			if r.status != http.StatusSeeOther {
				t.Fatalf("status %d, want 303", r.status)
			}
			loc, err := url.Parse(r.header.Get("Location"))
			if err != nil || !strings.HasPrefix(loc.String(), spaRedirect+"?") {
				t.Fatalf("Location %q", r.header.Get("Location"))
			}
			q := loc.Query()
			if q.Get("error") != tt.error || q.Get("state") != tt.state || q.Get("iss") != e.issuer || q.Get("code") != "" {
				t.Fatalf("redirect %v", q)
			}
			if _, has := q["state"]; tt.state == "" && has {
				t.Error("state added though the request had none")
			}
		})
	}
}

// TestCodeFlow is the happy path and the code's bindings: checklist items
// 40, 41, 42, 45 to 51.
func TestCodeFlow(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	verifier, ch := pkce("flow")
	page := a.get(e.authorizeURL(e.spa, spaRedirect, "st", ch, "unknown_param", "ignored"))
	if page.status != http.StatusOK || !strings.Contains(string(page.body), `name="password"`) {
		t.Fatalf("login page: %d %s", page.status, page.body)
	}
	assertPageHeaders(t, page)
	if strings.Contains(string(page.body), "<script") || strings.Contains(string(page.body), "style=") {
		t.Error("inline script or style on the login page")
	}
	r := a.signIn(page, alicePassword)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), spaRedirect+"?code=") {
		t.Fatalf("login: %d %v", r.status, r.header)
	}
	var sessionCookie *http.Cookie
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "gatehouse_dev_session=") {
			sessionCookie = &http.Cookie{Raw: c}
			if !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") {
				t.Errorf("session cookie %q", c)
			}
		}
	}
	if sessionCookie == nil {
		t.Fatalf("no session cookie in %v", r.header.Values("Set-Cookie"))
	}
	loc, _ := url.Parse(r.header.Get("Location"))
	q := loc.Query()
	if r.status != http.StatusSeeOther || q.Get("state") != "st" || q.Get("iss") != e.issuer || len(q.Get("code")) != 43 {
		t.Fatalf("authorization response: %d %s", r.status, loc)
	}
	code := q.Get("code")

	// Bindings, each refused before the right exchange (the code survives
	// checks made before it is spent).
	if r := e.exchange(e.spa, code, "", spaRedirect); r.status != 400 || r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("missing verifier: %d %s", r.status, r.body)
	}
	if r := e.exchange(e.spa, code, verifier[:42], spaRedirect); r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("short verifier: %s", r.body)
	}
	tok := e.exchange(e.spa, code, verifier, spaRedirect)
	if tok.status != http.StatusOK || tok.header.Get("Cache-Control") != "no-store" || tok.header.Get("Pragma") != "no-cache" {
		t.Fatalf("exchange: %d %v %s", tok.status, tok.header, tok.body)
	}
	body := tok.json(t)
	if body["token_type"] != "Bearer" || body["refresh_token"] == nil || body["expires_in"] == nil {
		t.Fatalf("token response %v", body)
	}
	_, claims := decodeJWT(t, body["access_token"].(string))
	if claims["sub"] != aliceID || claims["client_id"] != e.spa.id || claims["scope"] != "orders:read orders:write" ||
		claims["auth_time"] == nil || claims[token.FamilyClaim] == nil {
		t.Fatalf("claims %v", claims)
	}

	// A replay fails and revokes the grant (item 49).
	if r := e.exchange(e.spa, code, verifier, spaRedirect); r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("replay: %s", r.body)
	}
	fid := claims[token.FamilyClaim].(string)
	if !e.revokedKind(revocationv1.Kind_KIND_REFRESH_FAMILY, fid) {
		t.Fatal("code replay did not revoke the grant in the revocation list")
	}
	if r := e.refresh(e.spa, body["refresh_token"].(string), ""); r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("refresh after a code replay: %s", r.body)
	}

	// Single sign-on: the next authorization needs no form.
	v2, ch2 := pkce("two")
	code2 := e.codeFor(a, e.spa, ch2)
	for name, r := range map[string]response{
		"wrong verifier":               e.exchange(e.spa, code2, v2[:len(v2)-1]+"x", spaRedirect),
		"another client":               e.exchange(e.codeClient, code2, v2, spaRedirect),
		"another redirect":             e.exchange(e.spa, code2, v2, "http://127.0.0.1:49152/cb"),
		"missing redirect":             e.exchange(e.spa, code2, v2, ""),
		"plain (verifier = challenge)": e.exchange(e.spa, code2, ch2, spaRedirect),
	} {
		if r.status < 400 || (r.json(t)["error"] != "invalid_grant" && r.json(t)["error"] != "invalid_client") {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}

	// Expired (item 50).
	v3, ch3 := pkce("three")
	code3 := e.codeFor(a, e.spa, ch3)
	e.clock.Advance(61 * time.Second)
	if r := e.exchange(e.spa, code3, v3, spaRedirect); r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("expired code: %s", r.body)
	}
}

func (e *env) revokedKind(kind revocationv1.Kind, id string) bool {
	for _, r := range e.revoker.requests() {
		if r.GetKind() == kind && r.GetId() == id {
			return true
		}
	}
	return false
}

// TestRefreshRotation: checklist items 63, 65, 66, on both grant stores
// (PostgreSQL rotates in one statement, SQLite in a transaction).
func TestRefreshRotation(t *testing.T) {
	for _, be := range flowBackends {
		t.Run(be.name, func(t *testing.T) { testRefreshRotation(t, be.opt) })
	}
}

func testRefreshRotation(t *testing.T, opt envOption) {
	e := newEnv(t, opt)
	a := e.agent()
	v, ch := pkce("rot")
	tok := e.exchange(e.spa, e.codeFor(a, e.spa, ch), v, spaRedirect).json(t)
	rt1 := tok["refresh_token"].(string)

	if r := e.refresh(e.codeClient, rt1, ""); r.status < 400 {
		t.Fatalf("another client's refresh: %d %s", r.status, r.body)
	}
	if r := e.refresh(e.spa, rt1, "orders:read billing:read"); r.json(t)["error"] != "invalid_scope" {
		t.Fatalf("widened scope: %s", r.body)
	}
	r := e.refresh(e.spa, rt1, "orders:read")
	if r.status != 200 {
		t.Fatalf("narrowed refresh: %d %s", r.status, r.body)
	}
	next := r.json(t)
	rt2 := next["refresh_token"].(string)
	if rt2 == rt1 || next["scope"] != "orders:read" {
		t.Fatalf("rotation: %v", next)
	}
	// Narrowed stays narrowed, and cannot widen back beyond the grant.
	r = e.refresh(e.spa, rt2, "")
	if r.status != 200 || r.json(t)["scope"] != "orders:read" {
		t.Fatalf("refresh of the narrowed token: %d %s", r.status, r.body)
	}
	rt3 := r.json(t)["refresh_token"].(string)
	_, claims := decodeJWT(t, r.json(t)["access_token"].(string))

	// Reuse of a retired token revokes the family (item 63).
	if r := e.refresh(e.spa, rt1, ""); r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("reuse: %s", r.body)
	}
	if r := e.refresh(e.spa, rt3, ""); r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("newest token after a reuse: %s", r.body)
	}
	if !e.revokedKind(revocationv1.Kind_KIND_REFRESH_FAMILY, claims[token.FamilyClaim].(string)) {
		t.Fatal("reuse did not revoke the family's access tokens")
	}
	if !e.audited(token.ReasonRefreshReuse) {
		t.Fatal("reuse not audited")
	}
}

func (e *env) audited(reason audit.Reason) bool {
	for _, f := range e.audit.all() {
		if f.Reason == reason {
			return true
		}
	}
	return false
}

// TestLoginAbuse: CSRF on the login form, the generic failure message,
// and the per-account budget.
func TestLoginAbuse(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	_, ch := pkce("abuse")
	page := a.get(e.authorizeURL(e.spa, spaRedirect, "s", ch))
	f := fields(page.body)
	f.Set("email", aliceEmail)
	f.Set("password", alicePassword)

	noToken := url.Values{"authz": {f.Get("authz")}, "email": {aliceEmail}, "password": {alicePassword}}
	if r := a.post("/oauth2/login", noToken, issuerOrigin(e.issuer)); r.status != http.StatusForbidden {
		t.Fatalf("login without the CSRF token: %d", r.status)
	}
	if r := a.post("/oauth2/login", f, "https://evil.example"); r.status != http.StatusForbidden {
		t.Fatalf("login from a foreign origin: %d", r.status)
	}
	if r := e.agent().post("/oauth2/login", f, ""); r.status != http.StatusForbidden {
		t.Fatalf("login without the CSRF cookie: %d", r.status)
	}

	wrong := func() response {
		g := fields(page.body)
		g.Set("email", aliceEmail)
		g.Set("password", "wrong password!")
		return a.post("/oauth2/login", g, issuerOrigin(e.issuer))
	}
	r := wrong()
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "The email or password is incorrect.") {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	if !e.audited(token.ReasonLoginFailed) {
		t.Fatal("failed login not audited")
	}
	var limited bool
	for range 30 {
		if r = wrong(); r.status == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited || r.header.Get("Retry-After") == "" {
		t.Fatalf("no backoff after repeated failures: %d", r.status)
	}
	calls := e.users.calls.Load()
	if r := a.signIn(page, alicePassword); r.status != http.StatusTooManyRequests {
		t.Fatalf("right password while over budget: %d", r.status)
	}
	if e.users.calls.Load() != calls {
		t.Fatal("the password was checked while over budget")
	}
}

// TestConsentAndLogout: a third-party client gets the consent page; deny
// is access_denied; sign-out revokes the session and the user's grants.
func TestConsentAndLogout(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	_, ch := pkce("consent")
	page := a.get(e.authorizeURL(e.partnerApp, "https://partner.example/cb", "s", ch))
	r := a.signIn(page, alicePassword)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "orders:read") || !strings.Contains(string(r.body), `action="/oauth2/consent"`) {
		t.Fatalf("consent page: %d %s", r.status, r.body)
	}
	assertPageHeaders(t, r)
	deny := fields(r.body)
	deny.Set("decision", "deny")
	d := a.post("/oauth2/consent", deny, issuerOrigin(e.issuer))
	if d.status != http.StatusSeeOther || !strings.Contains(d.header.Get("Location"), "error=access_denied") || !strings.Contains(d.header.Get("Location"), "iss=") {
		t.Fatalf("deny: %d %s", d.status, d.header.Get("Location"))
	}
	allow := fields(r.body)
	allow.Set("decision", "allow")
	if d := a.post("/oauth2/consent", allow, issuerOrigin(e.issuer)); d.status != http.StatusSeeOther || !strings.Contains(d.header.Get("Location"), "code=") {
		t.Fatalf("allow: %d %s", d.status, d.header.Get("Location"))
	}

	v, ch2 := pkce("logout")
	tok := e.exchange(e.spa, e.codeFor(a, e.spa, ch2), v, spaRedirect).json(t)
	out := a.get(e.url("/oauth2/logout"))
	lf := fields(out.body)
	// A POST without the page's token is a relying party's request
	// (RP-Initiated Logout §2): it asks the user, it does not sign out.
	if r := a.post("/oauth2/logout", url.Values{}, issuerOrigin(e.issuer)); r.status != http.StatusOK || !strings.Contains(string(r.body), `name="logout"`) {
		t.Fatalf("sign-out without CSRF: %d %s", r.status, r.body)
	}
	if r := a.post("/oauth2/logout", url.Values{"csrf": {"forged"}}, issuerOrigin(e.issuer)); r.status != http.StatusForbidden {
		t.Fatalf("sign-out with a forged CSRF token: %d", r.status)
	}
	if r := a.post("/oauth2/logout", lf, issuerOrigin(e.issuer)); r.status != http.StatusOK {
		t.Fatalf("sign-out: %d %s", r.status, r.body)
	}
	if r := e.refresh(e.spa, tok["refresh_token"].(string), ""); r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("refresh after sign-out: %s", r.body)
	}
	if r := a.get(e.authorizeURL(e.spa, spaRedirect, "s", ch2)); r.status != http.StatusOK {
		t.Fatalf("authorize after sign-out should show the login page: %d", r.status)
	}
}

// TestConfidentialRefreshNotRotated is checklist item 64: a confidential
// client may retry a refresh with the same token (its response was lost),
// so its refresh tokens are not rotated; they stay bound to the client's
// authentication and to its grant.
func TestConfidentialRefreshNotRotated(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	v, ch := pkce("confidential")
	code := e.codeFor(a, e.codeClient, ch)
	cc := basic(e.codeClient.id, e.codeClient.secret)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {spaRedirect}}
	tok := e.do(nil, request{path: "/oauth2/token", basic: cc, body: form.Encode()})
	if tok.status != 200 {
		t.Fatalf("exchange: %d %s", tok.status, tok.body)
	}
	rt := tok.json(t)["refresh_token"].(string)
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
	for i := range 3 {
		e.clock.Advance(30 * time.Second)
		r := e.do(nil, request{path: "/oauth2/token", basic: cc, body: refresh})
		if r.status != 200 {
			t.Fatalf("refresh %d with the same token: %d %s", i, r.status, r.body)
		}
		if _, rotated := r.json(t)["refresh_token"]; rotated {
			t.Fatal("a confidential client's refresh token was rotated")
		}
	}
	// Without the client's authentication the token is worthless.
	if r := e.do(nil, request{path: "/oauth2/token", body: refresh + "&client_id=" + e.codeClient.id}); r.json(t)["error"] != "invalid_client" {
		t.Fatalf("refresh without client authentication: %d %s", r.status, r.body)
	}
	if r := e.do(nil, request{path: "/oauth2/revoke", basic: cc, body: "token=" + rt}); r.status != 200 {
		t.Fatalf("revoke: %d", r.status)
	}
	if r := e.do(nil, request{path: "/oauth2/token", basic: cc, body: refresh}); r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("refresh after revocation: %s", r.body)
	}
}
