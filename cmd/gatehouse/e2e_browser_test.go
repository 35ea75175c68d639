package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/pkg/dpop/dpoptest"
)

// chromiumPath finds Debian's chromium; without it the browser test skips
// locally and fails under CI, where .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install chromium); the browser test must run under CI")
	}
	t.Skip("chromium not installed: skipping the browser test (apt-get install chromium)")
	return ""
}

// artifactsDir is where tests leave files for humans (screenshots); it is
// ignored by git.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	return dir
}

// spaUser is the user the browser signs in as, with the OpenID Connect
// profile claims the SPA shows.
type spaUser struct {
	id, email, password, name string
}

// createSPAUser makes a user with a name and an email an admin vouched for.
func (s *server) createSPAUser(t *testing.T, email, password, name string) spaUser {
	t.Helper()
	id := s.createUser(t, email, password, "--name", name, "--email-verified")
	return spaUser{id: id, email: email, password: password, name: name}
}

// createSPAClient registers the example SPA: a public first-party client
// whose refresh token is a cookie, with the app's URL as its redirect URI
// and its post-logout redirect URI, which must push its authorization
// requests (PAR) and bind its tokens to a DPoP key.
func (s *server) createSPAClient(t *testing.T, appURL string) string {
	t.Helper()
	var app createdClient
	s.cliJSON(t, &app, "clients", "create", "--name", "Inventory SPA", "--type", "first_party", "--public",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", appURL, "--post-logout-redirect-uris", appURL,
		"--scopes", "inventory:read", "--refresh-token-delivery", "cookie", "--access-token-lifetime", "5m",
		"--require-pushed-authorization-requests", "--dpop-bound-access-tokens")
	return app.ClientID
}

// sentRequest is a request the browser sent, as the DevTools protocol
// reported it.
type sentRequest struct {
	method, url string
	// form is the decoded body of a form POST.
	form url.Values
	// authorization and dpop are its Authorization and DPoP headers.
	authorization, dpop string
	// redirectedBy is the status of the redirect that led to this
	// request, and redirectedFrom its URL; zero without one.
	redirectedBy   int64
	redirectedFrom string
}

// chromeTab is a headless Chromium tab that records the requests it sends
// and the problems the page reports (exceptions, CSP violations).
type chromeTab struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	requests []sentRequest
	problems []string
}

func newChromeTab(t *testing.T) *chromeTab {
	t.Helper()
	chrome := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	b := &chromeTab{t: t, ctx: ctx}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// record runs on the tab's event loop: it only copies what it needs.
func (b *chromeTab) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		r := sentRequest{method: e.Request.Method, url: e.Request.URL}
		for k, v := range e.Request.Headers {
			if s, ok := v.(string); ok && strings.EqualFold(k, "Authorization") {
				r.authorization = s
			} else if ok && strings.EqualFold(k, "DPoP") {
				r.dpop = s
			}
		}
		if e.Request.HasPostData {
			var body []byte
			for _, p := range e.Request.PostDataEntries {
				body = append(body, p.Bytes...)
			}
			r.form, _ = url.ParseQuery(string(body))
		}
		if e.RedirectResponse != nil {
			r.redirectedBy, r.redirectedFrom = e.RedirectResponse.Status, e.RedirectResponse.URL
		}
		b.requests = append(b.requests, r)
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.problems = append(b.problems, "exception: "+msg)
	case *log.EventEntryAdded:
		if strings.Contains(e.Entry.Text, "Content Security Policy") {
			b.problems = append(b.problems, "CSP: "+e.Entry.Text)
		}
	case *runtime.EventConsoleAPICalled:
		for _, a := range e.Args {
			if a != nil && strings.Contains(string(a.Value)+a.Description, "Content Security Policy") {
				b.problems = append(b.problems, "CSP (console): "+string(a.Value))
			}
		}
	}
}

// sent returns the requests recorded so far that match.
func (b *chromeTab) sent(match func(sentRequest) bool) []sentRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []sentRequest
	for _, r := range b.requests {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

func (b *chromeTab) checkNoProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("the page reported %s", p)
	}
}

// do runs the steps; on failure it says what the page showed.
func (b *chromeTab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
		b.mu.Lock()
		problems := slices.Clone(b.problems)
		b.mu.Unlock()
		b.t.Fatalf("%s in the browser: %v\npage:\n%s\npage problems: %q", what, err, page, problems)
	}
}

func (b *chromeTab) text(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

func (b *chromeTab) attrs(sel string) map[string]string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Attributes(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("attributes of %s: %v", sel, err)
	}
	return v
}

func (b *chromeTab) hidden(sel string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q).hidden`, sel)))
	if err != nil {
		b.t.Fatalf("hidden of %s: %v", sel, err)
	}
	return v
}

func (b *chromeTab) eval(expr string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](expr)); err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
}

// screenshot leaves a PNG for humans in artifacts/: the whole page, or
// with sel the element it selects.
func (b *chromeTab) screenshot(name, sel string) {
	b.t.Helper()
	act := chromedp.FullScreenshot(100)
	if sel != "" {
		act = chromedp.ScreenshotScale(chromedp.CSS(sel), 2)
	}
	shot, err := chromedp.Run(b.ctx, act)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(artifactsDir(b.t), name), shot, 0o600); err != nil {
		b.t.Fatal(err)
	}
}

// cookie returns the named cookie the browser would send to u, or a
// zero Cookie.
func (b *chromeTab) cookie(u, name string) network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return *c
		}
	}
	return network.Cookie{}
}

// signIn goes from the signed-out app through the real login page back
// to the app; before submitting the password, tamper runs on the login
// page (same origin, so same sessionStorage) when it is not empty.
func (b *chromeTab) signIn(u spaUser, tamper string) {
	b.t.Helper()
	b.do("sign-in",
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	if tamper != "" {
		b.eval(tamper)
	}
	b.do("sign-in",
		chromedp.SendKeys(chromedp.ID("email"), u.email),
		chromedp.SendKeys(chromedp.ID("password"), u.password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
}

// lastAuthorizeRequest is the app's last authorization request, as the
// browser pushed it to the PAR endpoint (with a DPoP proof); the
// authorization endpoint itself must have seen only client_id and the
// request_uri.
func (b *chromeTab) lastAuthorizeRequest(base string) url.Values {
	b.t.Helper()
	rs := b.sent(func(r sentRequest) bool { return strings.HasPrefix(r.url, base+"/oauth2/authorize?") })
	if len(rs) == 0 {
		b.t.Fatal("the browser sent no authorization request")
	}
	u, err := url.Parse(rs[len(rs)-1].url)
	if err != nil {
		b.t.Fatal(err)
	}
	if q := u.Query(); len(q) != 2 || q.Get("client_id") == "" || !strings.HasPrefix(q.Get("request_uri"), "urn:ietf:params:oauth:request_uri:") {
		b.t.Errorf("authorization request by value: %s", u)
	}
	pushed := b.sent(func(r sentRequest) bool { return r.method == http.MethodPost && r.url == base+"/oauth2/par" })
	if len(pushed) == 0 {
		b.t.Fatal("the browser pushed no authorization request")
	}
	last := pushed[len(pushed)-1]
	if last.dpop == "" {
		b.t.Error("the pushed authorization request carries no DPoP proof")
	}
	return last.form
}

// idTokenChecks are what the app must have checked in every ID token, and
// in addition on sign-in and on a refresh.
var (
	idTokenChecks = []string{"typ", "alg", "kid", "signature", "iss", "sub", "aud", "azp", "exp", "iat", "at_hash"}
	signInChecks  = []string{"nonce"}
	refreshChecks = []string{"no-new-nonce", "same-sub", "same-auth_time"}
)

// checkVerified asserts that the app validated an ID token of the kind
// (sign-in or refresh) for the user, with every check.
func (b *chromeTab) checkVerified(kind string, u spaUser, alg string) map[string]string {
	b.t.Helper()
	a := b.attrs("#claims")
	checks := strings.Fields(a["data-checks"])
	want := slices.Concat(idTokenChecks, signInChecks)
	if kind == "refresh" {
		want = slices.Concat(idTokenChecks, refreshChecks)
	}
	for _, c := range want {
		if !slices.Contains(checks, c) {
			b.t.Errorf("%s ID token: check %q not done (done: %q)", kind, c, checks)
		}
	}
	if a["data-id-token-verified"] != kind || a["data-alg"] != alg || a["data-sub"] != u.id {
		b.t.Errorf("%s ID token: verified %q, alg %q, sub %q; want %s, %s, %s", kind, a["data-id-token-verified"], a["data-alg"], a["data-sub"], kind, alg, u.id)
	}
	if got := b.text("#name"); got != u.name {
		b.t.Errorf("shown name %q, want %q", got, u.name)
	}
	if got := b.text("#email"); got != u.email {
		b.t.Errorf("shown email %q, want %q", got, u.email)
	}
	if got := b.text("#email-verified"); got != "verified" {
		b.t.Errorf("shown email_verified %q, want verified", got)
	}
	if got := b.text("#subject"); got != u.id {
		b.t.Errorf("shown subject %q, want %q", got, u.id)
	}
	return a
}

// TestBrowserSPA drives the example SPA in headless Chromium through
// OpenID Connect: sign in through the real login page (PKCE and a nonce,
// the request pushed to the PAR endpoint with a DPoP proof), the ID token
// validated in the browser and the user's name and email shown, inventory
// data through a DPoP-bound token whose copy is refused as Bearer and with
// another key's proof, the key non-extractable in IndexedDB, a refresh through the HttpOnly cookie with a new
// validated ID token for the same user, sign-out through the
// end_session_endpoint back to the app, the old refresh cookies refused;
// then an ID token whose nonce does not match the app's is refused, and so
// are token responses rewritten on their way to the app (no ID token,
// another signature, alg none, an unknown kid, another access token).
func TestBrowserSPA(t *testing.T) {
	chromiumPath(t)
	s := start(t, t.TempDir(), "--example-inventory")
	m := setupM2M(t, s)
	base := "http://" + s.creds.HTTPAddr
	appURL := base + "/spa/"
	seedItem(t, s, m, "browser-widget", 7)
	u := s.createSPAUser(t, "grace@example.test", "a long and secret passphrase", "Grace Hopper")
	clientID := s.createSPAClient(t, appURL)
	b := newChromeTab(t)
	cookieName := "gatehouse_dev_rt_" + clientID
	refreshCookie := func() string {
		t.Helper()
		c := b.cookie(base+"/oauth2/token", cookieName)
		if c.Name != "" && (!c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict) {
			t.Errorf("refresh cookie: HttpOnly %v, SameSite %v", c.HTTPOnly, c.SameSite)
		}
		return c.Value
	}

	// Sign in: the authorization request asks for openid with a nonce; the
	// app shows the name and email of the validated ID token, whose nonce
	// is the one it sent.
	b.do("open the app", chromedp.Navigate(appURL+"?client_id="+url.QueryEscape(clientID)))
	b.signIn(u, "")
	b.do("sign-in", chromedp.WaitVisible(chromedp.ID("signed-in")), chromedp.WaitVisible(chromedp.CSS("#items li")))
	authz := b.lastAuthorizeRequest(base)
	if scopes := strings.Fields(authz.Get("scope")); !slices.Contains(scopes, "openid") || !slices.Contains(scopes, "profile") ||
		!slices.Contains(scopes, "email") || !slices.Contains(scopes, "inventory:read") {
		t.Errorf("authorization request scope %q", authz.Get("scope"))
	}
	nonce := authz.Get("nonce")
	if len(nonce) < 16 || authz.Get("code_challenge_method") != "S256" {
		t.Errorf("authorization request: nonce %q, code_challenge_method %q", nonce, authz.Get("code_challenge_method"))
	}
	signedIn := b.checkVerified("sign-in", u, "ES256")
	if signedIn["data-nonce"] != nonce {
		t.Errorf("the app checked nonce %q, but sent %q", signedIn["data-nonce"], nonce)
	}
	if items := b.text("#items"); !strings.Contains(items, "browser-widget") {
		t.Errorf("signed-in page: items %q", items)
	}
	// The API call carries the DPoP-bound token with a proof. The token,
	// copied out of the page, is refused as a Bearer token and with a
	// proof by another key.
	itemsURL := base + "/v1/inventory/items"
	calls := b.sent(func(r sentRequest) bool { return r.url == itemsURL })
	if len(calls) == 0 || !strings.HasPrefix(calls[len(calls)-1].authorization, "DPoP ") || calls[len(calls)-1].dpop == "" {
		t.Fatalf("the app's API calls: %+v", calls)
	}
	// The key the proofs are signed with is in IndexedDB, and script
	// cannot export its private half.
	keyInfo, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`new Promise((resolve, reject) => {
		const open = indexedDB.open('gatehouse-spa');
		open.onerror = () => reject(open.error);
		open.onsuccess = () => {
			const get = open.result.transaction('keys').objectStore('keys').get('dpop');
			get.onerror = () => reject(get.error);
			get.onsuccess = () => { const k = get.result; resolve(k ? k.privateKey.algorithm.namedCurve + ' extractable=' + k.privateKey.extractable : 'none'); };
		};
	})`, chromedp.EvalAwaitPromise))
	if err != nil || keyInfo != "P-256 extractable=false" {
		t.Errorf("the app's DPoP key: %q %v, want a non-extractable P-256 key in IndexedDB", keyInfo, err)
	}
	copied := strings.TrimPrefix(calls[len(calls)-1].authorization, "DPoP ")
	if claims := jwtClaims(t, copied); claims["cnf"] == nil {
		t.Fatalf("the app's access token is not bound: %v", claims)
	}
	if r := s.rest(t, "GET", "/v1/inventory/items", map[string]string{"Authorization": "Bearer " + copied}, ""); r.code != http.StatusUnauthorized {
		t.Errorf("the page's token replayed as Bearer: %d %s", r.code, r.rawBody)
	}
	thief := dpoptest.NewKey(t)
	if r := s.rest(t, "GET", "/v1/inventory/items", map[string]string{"Authorization": "DPoP " + copied,
		"DPoP": thief.Proof(t, "GET", itemsURL, "", copied)}, ""); r.code != http.StatusUnauthorized {
		t.Errorf("the page's token with another key's proof: %d %s", r.code, r.rawBody)
	}
	if r := s.rest(t, "GET", "/v1/inventory/items", map[string]string{"Authorization": "DPoP " + copied,
		"DPoP": calls[len(calls)-1].dpop}, ""); r.code != http.StatusUnauthorized {
		t.Errorf("the page's token with its own proof replayed: %d %s", r.code, r.rawBody)
	}
	b.screenshot("spa-signed-in.png", "")
	b.screenshot("spa-signed-in-name.png", "#signed-in")
	first := refreshCookie()
	if first == "" {
		t.Fatal("no refresh cookie after sign-in")
	}

	// A refresh through the cookie rotates it and brings a new ID token,
	// validated without a nonce, for the same user.
	b.do("refresh",
		chromedp.Click(chromedp.ID("refresh")),
		chromedp.WaitVisible(chromedp.ID("refreshed")),
		chromedp.WaitReady(chromedp.CSS(`#claims[data-id-token-verified="refresh"]`)),
	)
	refreshed := b.checkVerified("refresh", u, "ES256")
	if refreshed["data-verifications"] != "2" || refreshed["data-nonce"] != "" {
		t.Errorf("after the refresh: %s ID tokens verified (want 2), nonce %q (want none)", refreshed["data-verifications"], refreshed["data-nonce"])
	}
	second := refreshCookie()
	if second == "" || second == first {
		t.Fatal("the refresh cookie did not rotate")
	}
	b.screenshot("spa-refreshed.png", "")
	// The refresh cookie is bound to the browser's key too: sent without a
	// proof, or with another key's, it is refused, and not spent.
	refreshWith := func(key *dpoptest.Key) (int, map[string]any) {
		t.Helper()
		send := func(nonce string) (int, http.Header, map[string]any) {
			req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/oauth2/token",
				strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
			req.AddCookie(&http.Cookie{Name: cookieName, Value: second})
			if key != nil {
				req.Header.Set("DPoP", key.Proof(t, "POST", base+"/oauth2/token", nonce, ""))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := map[string]any{}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			return resp.StatusCode, resp.Header, body
		}
		code, h, body := send("")
		if key != nil && body["error"] == "use_dpop_nonce" {
			code, _, body = send(h.Get("DPoP-Nonce"))
		}
		return code, body
	}
	if code, body := refreshWith(nil); code != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
		t.Errorf("the refresh cookie without a proof: %d %v", code, body)
	}
	if code, body := refreshWith(dpoptest.NewKey(t)); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("the refresh cookie with another key's proof: %d %v", code, body)
	}

	// Sign out: the app revokes its refresh token and POSTs to the
	// end_session_endpoint with its ID token as the hint; the session ends
	// at once and the browser comes back to the app with the state.
	b.do("sign-out",
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("signed-out")),
		chromedp.WaitReady(chromedp.CSS(`#status`)),
	)
	if got := b.text("#status"); got != "You have signed out." || !b.hidden("#error") || !b.hidden("#signed-in") {
		t.Errorf("after sign-out: status %q, error %q", got, b.text("#error"))
	}
	logouts := b.sent(func(r sentRequest) bool { return r.url == base+"/oauth2/logout" })
	if len(logouts) != 1 || logouts[0].method != http.MethodPost {
		t.Fatalf("sign-out requests to the end_session_endpoint: %+v", logouts)
	}
	lf := logouts[0].form
	if hint := lf.Get("id_token_hint"); !jwtShape.MatchString(hint) || idTokenClaim(t, hint, "sub") != u.id ||
		lf.Get("post_logout_redirect_uri") != appURL || len(lf.Get("state")) < 16 || lf.Get("client_id") != clientID {
		t.Errorf("end-session request: id_token_hint %t, post_logout_redirect_uri %q, state %q, client_id %q",
			jwtShape.MatchString(lf.Get("id_token_hint")), lf.Get("post_logout_redirect_uri"), lf.Get("state"), lf.Get("client_id"))
	}
	back := b.sent(func(r sentRequest) bool { return r.redirectedFrom == base+"/oauth2/logout" })
	wantBack := appURL + "?" + url.Values{"state": {lf.Get("state")}}.Encode()
	if len(back) != 1 || back[0].redirectedBy != http.StatusSeeOther || back[0].url != wantBack {
		t.Errorf("the end_session_endpoint's answer: %+v", back)
	}
	if c := refreshCookie(); c != "" {
		t.Error("the refresh cookie is still in the browser after sign-out")
	}
	b.screenshot("spa-signed-out.png", "")

	// Neither refresh cookie works any more, even from the app's origin.
	for name, value := range map[string]string{"rotated-out": first, "last": second} {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/oauth2/token",
			strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		req.AddCookie(&http.Cookie{Name: cookieName, Value: value})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s refresh cookie after sign-out: %d, want 400 invalid_grant", name, resp.StatusCode)
		}
	}

	// The session at the server ended too: signing in again shows the login
	// page. There the stored nonce is changed, as if the code that comes
	// back had been obtained for another request: the app refuses the ID
	// token, stays signed out, and revokes what it was given.
	b.signIn(u, `sessionStorage.setItem('oidc_nonce', 'not-the-nonce-that-was-sent')`)
	b.do("a refused ID token", chromedp.WaitVisible(chromedp.ID("error")))
	if got := b.text("#error"); !strings.Contains(got, "nonce does not match") || !b.hidden("#signed-in") || b.text("#status") != "Signed out." {
		t.Errorf("with a wrong nonce: error %q, status %q, signed-in shown %v", got, b.text("#status"), !b.hidden("#signed-in"))
	}
	if sent := b.lastAuthorizeRequest(base).Get("nonce"); len(sent) < 16 || sent == nonce {
		t.Errorf("second authorization request: nonce %q (first %q)", sent, nonce)
	}
	if c := refreshCookie(); c != "" {
		t.Error("the refresh cookie of a refused sign-in is still in the browser")
	}
	b.screenshot("spa-nonce-refused.png", "")
	// A reload does not resume what was refused.
	b.do("reload after the refusal", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("signed-out")))
	if got := b.text("#status"); got != "Signed out." || !b.hidden("#signed-in") {
		t.Errorf("reload after the refused sign-in: status %q", got)
	}

	// Token responses changed on their way to the app are refused too. The
	// session at the server is still there, so each sign-in comes straight
	// back with a code.
	for _, c := range tamperings {
		delivered := b.tamperNextTokenResponse(base+"/oauth2/token", c.edit)
		b.do("sign-in ("+c.name+")", chromedp.Click(chromedp.ID("signin")))
		if err := <-delivered; err != nil {
			t.Fatalf("%s: rewrite the token response: %v", c.name, err)
		}
		b.do("a refused ID token ("+c.name+")", chromedp.WaitVisible(chromedp.ID("error")))
		if got := b.text("#error"); !strings.Contains(got, c.want) || !b.hidden("#signed-in") {
			t.Errorf("%s: error %q (want %q), signed-in shown %v", c.name, got, c.want, !b.hidden("#signed-in"))
		}
	}
	b.checkNoProblems()
	assertNoSecretsInLogs(t, s.logs.String(), []string{u.password, first, second})
}

// tamperings are changes to a token response that the app must refuse.
var tamperings = []struct {
	name, want string
	edit       func(resp map[string]any)
}{
	{"no ID token", "the token response has none", func(r map[string]any) { delete(r, "id_token") }},
	{"another signature", "its signature does not verify", func(r map[string]any) {
		editIDToken(r, func(parts []string) {
			// Another character early in the signature: other bytes (a
			// change to the last one could fall in its unused bits).
			sig := []byte(parts[2])
			if sig[10] == 'A' {
				sig[10] = 'B'
			} else {
				sig[10] = 'A'
			}
			parts[2] = string(sig)
		})
	}},
	{"alg none", "signed with none", func(r map[string]any) {
		editIDToken(r, func(parts []string) {
			parts[0] = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
			parts[2] = ""
		})
	}},
	{"a kid not published", "no key with kid", func(r map[string]any) {
		editIDToken(r, func(parts []string) {
			var h map[string]any
			if b, err := base64.RawURLEncoding.DecodeString(parts[0]); err == nil && json.Unmarshal(b, &h) == nil && h != nil {
				h["kid"] = "not-a-published-key"
				b, _ = json.Marshal(h)
				parts[0] = base64.RawURLEncoding.EncodeToString(b)
			}
		})
	}},
	{"another access token", "at_hash does not match", func(r map[string]any) {
		tok, _ := r["access_token"].(string)
		r["access_token"] = tok + "A"
	}},
}

// editIDToken edits the parts of the ID token of a token response.
func editIDToken(r map[string]any, edit func(parts []string)) {
	tok, _ := r["id_token"].(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return
	}
	edit(parts)
	r["id_token"] = strings.Join(parts, ".")
}

// tamperNextTokenResponse makes the browser receive the next answer of the
// token endpoint as edit rewrites it: a token response the app must not
// trust. The channel says when it was delivered, or why not.
func (b *chromeTab) tamperNextTokenResponse(tokenURL string, edit func(resp map[string]any)) <-chan error {
	b.t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: tokenURL, RequestStage: fetch.RequestStageResponse}}})
	if err != nil {
		cancel()
		b.t.Fatalf("intercept the token endpoint: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		defer cancel()
		for ev, err := range paused {
			if err == nil {
				err = rewriteResponse(ctx, ev, edit)
			}
			if _, derr := chromedp.Call(ctx, fetch.Disable, cdp.Empty{}); err == nil {
				err = derr
			}
			done <- err
			return
		}
		done <- ctx.Err()
	}()
	return done
}

func rewriteResponse(ctx context.Context, ev fetch.EventRequestPaused, edit func(map[string]any)) error {
	body, err := chromedp.Call(ctx, fetch.GetResponseBody, fetch.GetResponseBodyParams{RequestID: ev.RequestID})
	if err != nil {
		return err
	}
	var resp map[string]any
	if err := json.Unmarshal(body.Body, &resp); err != nil {
		return fmt.Errorf("token response %d: %w", ev.ResponseStatusCode, err)
	}
	edit(resp)
	out, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	var headers []*fetch.HeaderEntry
	for _, h := range ev.ResponseHeaders {
		if !strings.EqualFold(h.Name, "Content-Length") {
			headers = append(headers, h)
		}
	}
	_, err = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
		RequestID: ev.RequestID, ResponseCode: ev.ResponseStatusCode, ResponseHeaders: headers, Body: out,
	})
	return err
}

// idTokenClaim reads a string claim of a JWT without verifying it (the app
// did that).
func idTokenClaim(t *testing.T, jwt, name string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatal("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	v, _ := claims[name].(string)
	return v
}

// TestBrowserSPASigningAlgorithms signs in to the example SPA against
// servers whose keys are of the other algorithms Gatehouse can sign with:
// the app verifies each ID token with WebCrypto (Ed25519 where Chromium
// has it, which Debian's has) and checks at_hash with the alg's hash.
func TestBrowserSPASigningAlgorithms(t *testing.T) {
	chromiumPath(t)
	for _, alg := range []string{"EdDSA", "RS256", "PS256"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			s := start(t, t.TempDir(), "--example-inventory", "--signing-alg", alg)
			appURL := "http://" + s.creds.HTTPAddr + "/spa/"
			u := s.createSPAUser(t, "ada@example.test", "another long secret passphrase", "Ada Lovelace")
			clientID := s.createSPAClient(t, appURL)
			b := newChromeTab(t)
			b.do("open the app", chromedp.Navigate(appURL+"?client_id="+url.QueryEscape(clientID)))
			b.signIn(u, "")
			b.do("sign-in", chromedp.WaitVisible(chromedp.ID("signed-in")))
			b.checkVerified("sign-in", u, alg)
			b.do("refresh",
				chromedp.Click(chromedp.ID("refresh")),
				chromedp.WaitReady(chromedp.CSS(`#claims[data-id-token-verified="refresh"]`)),
			)
			b.checkVerified("refresh", u, alg)
			b.checkNoProblems()
		})
	}
}
