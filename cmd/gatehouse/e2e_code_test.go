package main

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// browser is a cookie-keeping HTTP client that stops at the client's
// redirect URI instead of following it, as an app's redirect handler does.
type browser struct {
	t      *testing.T
	hc     *http.Client
	origin string
}

func newBrowser(t *testing.T, s *server, redirectPrefix string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirectPrefix) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return &browser{t: t, hc: hc, origin: "http://" + s.creds.HTTPAddr}
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)

// formFields returns the hidden fields of the page's form.
func formFields(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// get fetches a URL and returns the final response's status, Location and
// body.
func (b *browser) get(u string) (int, string, string) {
	b.t.Helper()
	resp, err := b.hc.Get(u) //nolint:noctx // test
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// post submits a form as the page's origin.
func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "POST", b.origin+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.origin)
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// signIn runs the authorization request through the login page and
// returns the redirect to the client.
func (b *browser) signIn(authURL, email, password string) *url.URL {
	b.t.Helper()
	code, _, page := b.get(authURL)
	if code != 200 || !strings.Contains(page, `action="/oauth2/login"`) {
		b.t.Fatalf("authorize: %d, no login form:\n%s", code, page)
	}
	form := formFields(page)
	form.Set("email", email)
	form.Set("password", password)
	code, loc, page := b.post("/oauth2/login", form)
	if code != http.StatusSeeOther || loc == "" {
		b.t.Fatalf("login: %d %q\n%s", code, loc, page)
	}
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// createUser makes a user with the CLI, the password on stdin, flags
// (profile claims, --email-verified) added to `users create`.
func (s *server) createUser(t *testing.T, email, password string, flags ...string) string {
	t.Helper()
	leaks.add("password", password)
	args := append([]string{"users", "create", "--email", email, "--password-stdin", "-o", "json",
		"--credentials", filepath.Join(s.dataDir, "admin-credentials.json")}, flags...)
	cmd := exec.Command(binary, args...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("users create: %v: %s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"user_id":\s*"([^"]+)"`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("users create output: %s", out)
	}
	return m[1]
}

// TestEndToEndAuthorizationCode is the native-app flow against the real
// binary with golang.org/x/oauth2: PKCE S256, sign-in through the login
// page, code exchange, the example API, refresh rotation and reuse
// detection, and RFC 7009 revocation of a refresh token revoking its
// family and the access tokens issued from it.
func TestEndToEndAuthorizationCode(t *testing.T) {
	s := start(t, t.TempDir(), "--example-inventory")
	a := newAPI(t, s)
	ctx := context.Background()
	const email, password = "ada@example.test", "correct horse battery staple"
	userID := s.createUser(t, email, password)

	var app createdClient
	s.cliJSON(t, &app, "clients", "create", "--name", "Native app", "--type", "first_party", "--public",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", "http://127.0.0.1:1/callback",
		"--scopes", "inventory:read", "--access-token-lifetime", "10m")
	base := "http://" + s.creds.HTTPAddr
	redirect := "http://127.0.0.1:53682/callback" // another port: RFC 8252 §7.3
	cfg := &oauth2.Config{
		ClientID:    app.ClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: base + "/oauth2/authorize", TokenURL: base + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirect,
		Scopes:      []string{"inventory:read"},
	}

	meta := s.rest(t, "GET", "/.well-known/oauth-authorization-server", nil, "")
	if meta.body["authorization_endpoint"] != base+"/oauth2/authorize" || meta.body["authorization_response_iss_parameter_supported"] != true {
		t.Fatalf("metadata: %s", meta.rawBody)
	}

	b := newBrowser(t, s, "http://127.0.0.1:53682/")
	verifier := oauth2.GenerateVerifier()
	back := b.signIn(cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier)), email, password)
	q := back.Query()
	if !strings.HasPrefix(back.String(), redirect+"?") || q.Get("state") != "st-1" || q.Get("iss") != base || q.Get("code") == "" {
		t.Fatalf("authorization response %s", back)
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token response: %+v", tok)
	}
	claims := jwtClaims(t, tok.AccessToken)
	if claims["sub"] != userID || claims["client_id"] != app.ClientID || claims["auth_time"] == nil || claims["fid"] == nil {
		t.Fatalf("access token claims %v", claims)
	}
	a.accepted(t, "user's access token", "Bearer "+tok.AccessToken)

	// The code is single use: a second exchange fails and revokes the grant.
	if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("second exchange: %v", err)
	}
	a.refusedSoon(t, "access token of a replayed code", "Bearer "+tok.AccessToken)

	// Single sign-on: the session signs the next request in without a form.
	verifier = oauth2.GenerateVerifier()
	code, loc, _ := b.get(cfg.AuthCodeURL("st-2", oauth2.S256ChallengeOption(verifier)))
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, redirect) {
		t.Fatalf("authorize with a session: %d %s", code, loc)
	}
	back, _ = url.Parse(loc)
	tok, err = cfg.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}

	// Refresh rotates; the retired token revokes the family.
	refresh := func(rt string) (*oauth2.Token, error) {
		return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	}
	tok2, err := refresh(tok.RefreshToken)
	if err != nil || tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v %+v", err, tok2)
	}
	a.accepted(t, "refreshed access token", "Bearer "+tok2.AccessToken)
	if _, err := refresh(tok.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("reused refresh token: %v", err)
	}
	if _, err := refresh(tok2.RefreshToken); err == nil {
		t.Fatal("the family's newest refresh token still works after a reuse")
	}
	a.refusedSoon(t, "access token of a family revoked for reuse", "Bearer "+tok2.AccessToken)

	// RFC 7009 with a refresh token: the family and its access tokens go.
	verifier = oauth2.GenerateVerifier()
	_, loc, _ = b.get(cfg.AuthCodeURL("st-3", oauth2.S256ChallengeOption(verifier)))
	back, _ = url.Parse(loc)
	tok3, err := cfg.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	a.accepted(t, "third grant's access token", "Bearer "+tok3.AccessToken)
	form := url.Values{"token": {tok3.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {app.ClientID}}
	resp, err := http.PostForm(base+"/oauth2/revoke", form) //nolint:noctx // test
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke refresh token: %d", resp.StatusCode)
	}
	a.refusedSoon(t, "access token of a revoked refresh family", "Bearer "+tok3.AccessToken)
	if _, err := refresh(tok3.RefreshToken); err == nil {
		t.Fatal("revoked refresh token still refreshes")
	}
	assertNoSecretsInLogs(t, s.logs.String(), []string{password, tok.AccessToken, tok.RefreshToken, tok2.RefreshToken, tok3.RefreshToken, q.Get("code")})
}
