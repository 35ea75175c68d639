package token_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const spaOrigin = "https://spa.example"

// cookieRequest is a token or revocation request from the cookie SPA's
// page: its Origin, and its refresh cookie when given.
func (e *env) cookieRequest(path string, form url.Values, origin, cookie string) response {
	e.t.Helper()
	h := map[string]string{}
	if origin != "" {
		h["Origin"] = origin
	}
	if cookie != "" {
		h["Cookie"] = "gatehouse_dev_rt_" + e.cookieSPA.id + "=" + cookie
	}
	return e.do(nil, request{path: path, body: form.Encode(), headers: h})
}

// refreshCookieOf returns the refresh cookie a response sets, and checks
// its attributes.
func refreshCookieOf(t *testing.T, r response, clientID string) string {
	t.Helper()
	for _, c := range r.header.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(c, "gatehouse_dev_rt_"+clientID+"="); ok {
			for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
				if !strings.Contains(c, attr) {
					t.Errorf("refresh cookie %q lacks %s", c, attr)
				}
			}
			v, _, _ = strings.Cut(v, ";")
			return v
		}
	}
	return ""
}

// TestRefreshCookie is section 4 of the first-party issue: a cookie
// client's refresh token is an HttpOnly SameSite=Strict cookie, never in
// the body; refresh and revocation carry none in the body and must come
// from the client's origin; CORS allows exactly that origin.
func TestRefreshCookie(t *testing.T) {
	e := newEnv(t, withFlow())
	a := e.agent()
	v, ch := pkce("cookie")
	r := a.get(e.authorizeURL(e.cookieSPA, spaOrigin+"/spa/", "s", ch))
	r = a.signIn(r, alicePassword)
	loc, _ := url.Parse(r.header.Get("Location"))
	code := loc.Query().Get("code")

	tok := e.cookieRequest("/oauth2/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "client_id": {e.cookieSPA.id},
		"code_verifier": {v}, "redirect_uri": {spaOrigin + "/spa/"},
	}, spaOrigin, "")
	if tok.status != 200 {
		t.Fatalf("exchange: %d %s", tok.status, tok.body)
	}
	if _, inBody := tok.json(t)["refresh_token"]; inBody {
		t.Fatal("a cookie client's refresh token is in the body")
	}
	if tok.header.Get("Access-Control-Allow-Origin") != spaOrigin || tok.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("CORS headers %v", tok.header)
	}
	rt1 := refreshCookieOf(t, tok, e.cookieSPA.id)
	if len(rt1) != 43 {
		t.Fatalf("refresh cookie %q", rt1)
	}

	refreshForm := url.Values{"grant_type": {"refresh_token"}, "client_id": {e.cookieSPA.id}}
	for name, r := range map[string]response{
		"foreign origin": e.cookieRequest("/oauth2/token", refreshForm, "https://evil.example", rt1),
		"no origin":      e.cookieRequest("/oauth2/token", refreshForm, "", rt1),
		"token in body": e.cookieRequest("/oauth2/token", url.Values{
			"grant_type": {"refresh_token"}, "client_id": {e.cookieSPA.id}, "refresh_token": {rt1},
		}, spaOrigin, rt1),
	} {
		if r.status < 400 || r.json(t)["error"] != "invalid_request" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
		if r.header.Get("Access-Control-Allow-Origin") == "https://evil.example" {
			t.Errorf("%s: CORS allowed a foreign origin", name)
		}
	}
	if r := e.cookieRequest("/oauth2/token", refreshForm, spaOrigin, ""); r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("refresh without the cookie: %s", r.body)
	}

	r = e.cookieRequest("/oauth2/token", refreshForm, spaOrigin, rt1)
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	rt2 := refreshCookieOf(t, r, e.cookieSPA.id)
	if rt2 == "" || rt2 == rt1 {
		t.Fatal("the refresh cookie did not rotate")
	}

	// Sign-out: revocation with the cookie and no token; the cookie is
	// cleared and the family is gone.
	out := e.cookieRequest("/oauth2/revoke", url.Values{"client_id": {e.cookieSPA.id}}, spaOrigin, rt2)
	if out.status != 200 || !strings.Contains(strings.Join(out.header.Values("Set-Cookie"), "\n"), "Max-Age=0") {
		t.Fatalf("revoke with the cookie: %d %v", out.status, out.header.Values("Set-Cookie"))
	}
	r = e.cookieRequest("/oauth2/token", refreshForm, spaOrigin, rt2)
	if r.json(t)["error"] != "invalid_grant" || !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), "\n"), "Max-Age=0") {
		t.Fatalf("refresh after sign-out: %s %v", r.body, r.header.Values("Set-Cookie"))
	}
	if r := e.cookieRequest("/oauth2/revoke", url.Values{"client_id": {e.cookieSPA.id}}, spaOrigin, ""); r.status != http.StatusOK {
		t.Fatalf("revoke without a cookie: %d", r.status)
	}
}
