package token_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/fuzzseed"
)

// FuzzAuthorize fuzzes GET /oauth2/authorize through the real handler: the
// raw query, signed out or with alice's session. In the query, {spa},
// {code_client}, {partner_app}, {cookie_spa} and {partner} stand for the
// clients' ids and {challenge} for a valid S256 code challenge.
//
// Properties:
//   - never a 5xx: every answer is a page (200), an error page (400) or a
//     303 redirect;
//   - a redirect goes only to a redirect URI registered for the client the
//     request named: exactly the redirect_uri of the request, which is one
//     of the client's registered URIs, or its only one when the request
//     names none; the one exception is RFC 8252 §7.3, a registered
//     http loopback IP literal with another port, the rest identical; and
//     it carries iss and the request's state;
//   - a query with a repeated parameter (RFC 6749 §3.1; RFC 8707's
//     resource may repeat), bad percent-encoding, a parameter without a
//     name, more than 32 parameters or more than 8 KiB is refused with a
//     400 page, never redirected: which redirect_uri to trust is unknown.
func FuzzAuthorize(f *testing.F) {
	const ok = "response_type=code&client_id={spa}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz&code_challenge={challenge}&code_challenge_method=S256"
	fuzzseed.Sync(f, "FuzzAuthorize", []fuzzseed.Seed{
		{Name: "seed-ok-signed-out", Args: []any{ok, false}},
		{Name: "seed-ok-signed-in", Args: []any{ok, true}},
		{Name: "seed-loopback-other-port", Args: []any{strings.Replace(ok, "https%3A%2F%2Fapp.example%2Fcb", "http%3A%2F%2F127.0.0.1%3A8080%2Fcb", 1), true}},
		{Name: "seed-only-redirect", Args: []any{"response_type=code&client_id={code_client}&state=s&code_challenge={challenge}&code_challenge_method=S256&scope=orders:read", true}},
		{Name: "seed-consent-prompt-none", Args: []any{"response_type=code&client_id={partner_app}&code_challenge={challenge}&code_challenge_method=S256&prompt=none", true}},
		{Name: "seed-duplicate-param", Args: []any{ok + "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb", true}},
		{Name: "seed-duplicate-client-id", Args: []any{"client_id={partner_app}&" + ok, true}},
		{Name: "seed-duplicate-resource", Args: []any{ok + "&resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example", true}},
		{Name: "seed-bad-percent", Args: []any{ok + "&state=%zz", true}},
		{Name: "seed-unregistered-redirect", Args: []any{strings.Replace(ok, "app.example", "evil.example", 1), true}},
		{Name: "seed-redirect-userinfo", Args: []any{strings.Replace(ok, "app.example", "app.example%40evil.example", 1), true}},
		{Name: "seed-loopback-localhost", Args: []any{strings.Replace(ok, "https%3A%2F%2Fapp.example%2Fcb", "http%3A%2F%2Flocalhost%3A49152%2Fcb", 1), true}},
		{Name: "seed-loopback-path-change", Args: []any{strings.Replace(ok, "https%3A%2F%2Fapp.example%2Fcb", "http%3A%2F%2F127.0.0.1%3A49152%2Fcb%2F..%2Fx", 1), true}},
		{Name: "seed-several-uris-none-given", Args: []any{"response_type=code&client_id={spa}&code_challenge={challenge}&code_challenge_method=S256", true}},
		{Name: "seed-implicit", Args: []any{strings.Replace(ok, "response_type=code", "response_type=token", 1), true}},
		{Name: "seed-plain-pkce", Args: []any{strings.Replace(ok, "S256", "plain", 1), true}},
		{Name: "seed-unknown-client", Args: []any{strings.Replace(ok, "{spa}", "c_nope", 1), true}},
		{Name: "seed-cc-client", Args: []any{strings.Replace(ok, "{spa}", "{partner}", 1), true}},
		{Name: "seed-bad-scope", Args: []any{ok + "&scope=orders:read%20%5C", true}},
		{Name: "seed-empty-name", Args: []any{"=x&" + ok, false}},
		{Name: "seed-huge-state", Args: []any{ok + "&x=" + strings.Repeat("s", 8200), true}},
		{Name: "seed-empty", Args: []any{"", false}},
	})
	fe := newFuzzEnv(f)
	_, challenge := pkce("fuzz")
	expand := strings.NewReplacer("{challenge}", challenge)
	redirects := map[string][]string{}
	for _, c := range []struct {
		cl   registered
		uris []string
	}{
		{fe.spa, []string{"https://app.example/cb", "http://127.0.0.1:49152/cb"}},
		{fe.codeClient, []string{"https://app.example/cb"}},
		{fe.partnerApp, []string{"https://partner.example/cb"}},
		{fe.cookieSPA, []string{spaOrigin + "/spa/"}},
	} {
		redirects[c.cl.id] = c.uris
	}
	cookies := fe.signIn(f)

	f.Fuzz(func(t *testing.T, query string, signedIn bool) {
		query = fe.expand.Replace(expand.Replace(query))
		r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/oauth2/authorize", nil)
		r.URL.RawQuery = query
		if signedIn {
			for _, c := range cookies {
				r.AddCookie(c)
			}
		}
		w := fe.serve(r)
		loc := w.Header().Get("Location")
		params, strict := parseQueryStrictly(query)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest:
			if loc != "" {
				t.Fatalf("status %d with Location %q", w.Code, loc)
			}
		case http.StatusSeeOther:
			checkAuthorizeRedirect(t, fe.issuer, redirects, params, loc)
		default:
			t.Fatalf("status %d for %q: %s", w.Code, query, w.Body.Bytes())
		}
		if !strict && w.Code != http.StatusBadRequest {
			t.Fatalf("malformed query %q (a repeated or badly encoded parameter) answered %d, want a 400 page", query, w.Code)
		}
	})
}

// signIn signs alice in through the login form and returns the session
// cookie.
func (fe *fuzzEnv) signIn(f *testing.F) []*http.Cookie {
	f.Helper()
	a := fe.agent()
	_, ch := pkce("x")
	page := a.get(fe.authorizeURL(fe.spa, spaRedirect, "s", ch))
	if r := a.signIn(page, alicePassword); r.status != http.StatusSeeOther {
		f.Fatalf("sign in: %d %s", r.status, r.body)
	}
	u, err := url.Parse(fe.issuer)
	if err != nil {
		f.Fatal(err)
	}
	cookies := a.hc.Jar.Cookies(u)
	if len(cookies) == 0 {
		f.Fatal("no session cookie after signing in")
	}
	return cookies
}

// parseQueryStrictly is the reference reading of an authorization
// request: it reports false for what must be refused before anything is
// trusted (a repeated parameter other than resource, bad encoding, an
// empty name, more than 32 parameters, more than 8 KiB).
func parseQueryStrictly(query string) (map[string]string, bool) {
	params := map[string]string{}
	if len(query) > 8<<10 {
		return params, false
	}
	n := 0
	for _, pair := range strings.Split(query, "&") {
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(rawName)
		value, err2 := url.QueryUnescape(rawValue)
		if err1 != nil || err2 != nil || name == "" {
			return params, false
		}
		if _, dup := params[name]; dup && name != "resource" {
			return params, false
		}
		if n++; n > 32 {
			return params, false
		}
		params[name] = value
	}
	return params, true
}

// checkAuthorizeRedirect checks a 303 of the authorization endpoint
// against the request's parameters.
func checkAuthorizeRedirect(t *testing.T, issuer string, redirects map[string][]string, params map[string]string, loc string) {
	t.Helper()
	target, rawParams, _ := strings.Cut(loc, "?")
	uris := redirects[params["client_id"]]
	requested, given := params["redirect_uri"]
	given = given && requested != ""
	switch {
	case len(uris) == 0:
		t.Fatalf("redirect to %q for client %q, which has no redirect URI", loc, params["client_id"])
	case given && target != requested:
		t.Fatalf("redirect to %q, not the requested redirect_uri %q", loc, requested)
	case !given && (len(uris) != 1 || target != uris[0]):
		t.Fatalf("redirect to %q without a redirect_uri, client registered %q", loc, uris)
	case !registeredOrLoopback(uris, target):
		t.Fatalf("redirect to %q, not registered for the client (%q)", loc, uris)
	}
	got, err := url.ParseQuery(rawParams)
	if err != nil {
		t.Fatalf("redirect %q: %v", loc, err)
	}
	if got.Get("iss") != issuer {
		t.Fatalf("redirect %q without iss %s", loc, issuer)
	}
	if state := params["state"]; len(state) <= 4<<10 && got.Get("state") != state {
		t.Fatalf("redirect %q: state %q, want %q", loc, got.Get("state"), state)
	}
	if (got.Get("code") == "") == (got.Get("error") == "") {
		t.Fatalf("redirect %q: want exactly one of code and error", loc)
	}
}

// registeredOrLoopback: target is one of uris, or (RFC 8252 §7.3) an http
// URI whose host is a loopback IP literal that differs from a registered
// one only by its port.
func registeredOrLoopback(uris []string, target string) bool {
	for _, u := range uris {
		if u == target {
			return true
		}
	}
	tu, err := url.Parse(target)
	if err != nil || tu.Scheme != "http" {
		return false
	}
	ip := net.ParseIP(tu.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return false
	}
	for _, u := range uris {
		ru, err := url.Parse(u)
		if err != nil || ru.Scheme != "http" || ru.Hostname() != tu.Hostname() {
			continue
		}
		authority := "http://" + tu.Host
		if strings.HasPrefix(target, authority) && strings.TrimPrefix(target, authority) == strings.TrimPrefix(u, "http://"+ru.Host) {
			return true
		}
	}
	return false
}
