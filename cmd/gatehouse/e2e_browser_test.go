package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
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

// TestBrowserSPA drives the example SPA in headless Chromium: sign in
// through the real login page (PKCE in WebCrypto), see inventory data,
// refresh through the HttpOnly cookie, sign out, and check that the old
// refresh cookie no longer works.
func TestBrowserSPA(t *testing.T) {
	chrome := chromiumPath(t)
	s := start(t, t.TempDir(), "--example-inventory")
	m := setupM2M(t, s)
	base := "http://" + s.creds.HTTPAddr
	if r := s.rest(t, "POST", "/v1/inventory/items", bearer(m.token(t, m.writer, "inventory:write")), `{"name":"browser-widget","quantity":7}`); r.code != 200 {
		t.Fatalf("seed item: %d %s", r.code, r.rawBody)
	}
	const email, password = "grace@example.test", "a long and secret passphrase"
	userID := s.createUser(t, email, password)
	var app createdClient
	s.cliJSON(t, &app, "clients", "create", "--name", "Inventory SPA", "--type", "first_party", "--public",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", base+"/spa/",
		"--scopes", "inventory:read", "--refresh-token-delivery", "cookie", "--access-token-lifetime", "5m")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	cookieName := "gatehouse_dev_rt_" + app.ClientID
	refreshCookie := func() string {
		t.Helper()
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/oauth2/token"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Cookies {
			if c.Name == cookieName {
				if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
					t.Errorf("refresh cookie: HttpOnly %v, SameSite %v", c.HTTPOnly, c.SameSite)
				}
				return c.Value
			}
		}
		return ""
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}

	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/spa/?client_id="+url.QueryEscape(app.ClientID)),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("signed-in")),
		chromedp.WaitVisible(chromedp.CSS("#items li")),
	)
	if err != nil {
		t.Fatalf("sign-in in the browser: %v\nserver logs:\n%s", err, s.logs)
	}
	subject, items := text("#subject"), text("#items")
	if subject != userID || !strings.Contains(items, "browser-widget") {
		t.Fatalf("signed-in page: subject %q, items %q", subject, items)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(artifactsDir(t), "spa-signed-in.png"), shot, 0o600); err != nil {
		t.Fatal(err)
	}
	first := refreshCookie()
	if first == "" {
		t.Fatal("no refresh cookie after sign-in")
	}

	// A refresh through the cookie rotates it.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("refresh")), chromedp.WaitVisible(chromedp.ID("refreshed"))); err != nil {
		t.Fatalf("refresh in the browser: %v", err)
	}
	second := refreshCookie()
	if second == "" || second == first {
		t.Fatal("the refresh cookie did not rotate")
	}

	// Sign out: the app revokes its refresh token, then the sign-out page
	// ends the session.
	logoutButton := chromedp.CSS(`form[action="/oauth2/logout"] button`)
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(logoutButton),
		chromedp.Click(logoutButton),
		chromedp.WaitNotPresent(logoutButton),
	)
	if err != nil {
		t.Fatalf("sign-out in the browser: %v", err)
	}
	if got := text("main"); !strings.Contains(got, "You are signed out") {
		t.Fatalf("sign-out page: %q", got)
	}

	// Neither refresh cookie works any more, even from the app's origin.
	for name, value := range map[string]string{"rotated-out": first, "last": second} {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/oauth2/token",
			strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "client_id": {app.ClientID}}.Encode()))
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
	assertNoSecretsInLogs(t, s.logs.String(), []string{password, first, second})
}
