package main

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"google.golang.org/grpc/codes"
)

// The OpenID Provider against relying-party libraries nobody here wrote:
// github.com/coreos/go-oidc/v3 with golang.org/x/oauth2 (this file), and
// Node's openid-client (e2e/openid-client, run by TestOpenIDClientNode).
// Both drive the real login page as a browser would.

// backchannelLogoutEvent is the events member of a logout token
// (Back-Channel Logout 1.0 §2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// oidcProfile is what the test user is created with.
type oidcProfile struct {
	email, password                                        string
	name, givenName, familyName, preferredUsername, locale string
}

// createProfileUser makes a user with its profile claims and
// email_verified set.
func (s *server) createProfileUser(t *testing.T, p oidcProfile) string {
	t.Helper()
	return s.createUser(t, p.email, p.password, "--name", p.name, "--given-name", p.givenName, "--family-name", p.familyName,
		"--preferred-username", p.preferredUsername, "--locale", p.locale, "--email-verified")
}

// idClaims are the ID token claims the tests look at beyond go-oidc's.
type idClaims struct {
	Sub               string   `json:"sub"`
	Azp               string   `json:"azp"`
	Sid               string   `json:"sid"`
	Nonce             *string  `json:"nonce"`
	AtHash            string   `json:"at_hash"`
	AuthTime          int64    `json:"auth_time"`
	Amr               []string `json:"amr"`
	Name              string   `json:"name"`
	GivenName         string   `json:"given_name"`
	FamilyName        string   `json:"family_name"`
	PreferredUsername string   `json:"preferred_username"`
	Locale            string   `json:"locale"`
	UpdatedAt         int64    `json:"updated_at"`
	Email             string   `json:"email"`
	EmailVerified     *bool    `json:"email_verified"`
}

// relyingParty is a client as a go-oidc application holds it.
type relyingParty struct {
	cfg      *oauth2.Config
	verifier *oidc.IDTokenVerifier
	issuer   string
}

// authURL returns an authorization request with a fresh PKCE verifier and
// the verifier.
func (rp *relyingParty) authURL(state, nonce string, extra ...oauth2.AuthCodeOption) (string, string) {
	v := oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v), oidc.Nonce(nonce)}, extra...)
	return rp.cfg.AuthCodeURL(state, opts...), v
}

// response checks that loc is an authorization response to the client with
// state and iss (RFC 9207), and returns its query.
func (rp *relyingParty) response(t *testing.T, loc, state string) url.Values {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, rp.cfg.RedirectURL+"?") {
		t.Fatalf("authorization response %q: not to %s (%v)", loc, rp.cfg.RedirectURL, err)
	}
	q := u.Query()
	if q.Get("state") != state || q.Get("iss") != rp.issuer {
		t.Fatalf("authorization response %q: want state %q and iss %q", loc, state, rp.issuer)
	}
	return q
}

// code checks a successful authorization response and returns its code.
func (rp *relyingParty) code(t *testing.T, loc, state string) string {
	t.Helper()
	q := rp.response(t, loc, state)
	if q.Get("code") == "" || q.Has("error") {
		t.Fatalf("authorization response %q: want a code", loc)
	}
	return q.Get("code")
}

// exchange redeems a code and verifies the response's ID token.
func (rp *relyingParty) exchange(ctx context.Context, t *testing.T, code, verifier string) (*oauth2.Token, *oidc.IDToken, idClaims) {
	t.Helper()
	tok, err := rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, c := rp.verify(ctx, t, tok)
	return tok, idt, c
}

// verify checks the ID token of a token response as go-oidc does (signature
// with the discovered keys and algorithms, iss, aud, exp), and that its
// at_hash is that of the access token beside it.
func (rp *relyingParty) verify(ctx context.Context, t *testing.T, tok *oauth2.Token) (*oidc.IDToken, idClaims) {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatalf("token response without id_token")
	}
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify the ID token: %v", err)
	}
	if idt.Issuer != rp.issuer || !slices.Equal(idt.Audience, []string{rp.cfg.ClientID}) {
		t.Fatalf("ID token iss %q aud %q", idt.Issuer, idt.Audience)
	}
	if idt.AccessTokenHash == "" {
		t.Fatal("ID token without at_hash")
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if h := jwtHeader(t, raw); h["typ"] == "at+jwt" {
		t.Fatalf("ID token header %v: typed as an access token", h)
	}
	return idt, c
}

// refresh forces a refresh through oauth2's TokenSource, as an application
// does when its access token has expired.
func (rp *relyingParty) refresh(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error) {
	expired := &oauth2.Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
	return rp.cfg.TokenSource(ctx, expired).Token()
}

// logoutPost is what a back-channel logout receiver got.
type logoutPost struct {
	method, contentType, token string
}

// newLogoutReceiver is a relying party's back-channel logout endpoint on
// loopback; with hang it answers nothing until the server gives up.
func newLogoutReceiver(t *testing.T, hang bool) (*httptest.Server, chan logoutPost) {
	t.Helper()
	posts := make(chan logoutPost, 16)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		p := logoutPost{method: r.Method, contentType: ct, token: r.PostFormValue("logout_token")}
		leaks.add("logout token", p.token)
		select {
		case posts <- p:
		default:
		}
		if hang {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // before Close, which waits for handlers
	return srv, posts
}

// checkLogoutToken verifies a back-channel logout request and its token
// (Back-Channel Logout 1.0 §2.4, §2.5) with the provider's published keys,
// and returns the token's claims.
func checkLogoutToken(ctx context.Context, t *testing.T, keys *oidc.RemoteKeySet, p logoutPost, issuer, clientID, sub string, since time.Time) map[string]any {
	t.Helper()
	if p.method != http.MethodPost || p.contentType != "application/x-www-form-urlencoded" || p.token == "" {
		t.Fatalf("back-channel request: %s %q, logout_token present %v", p.method, p.contentType, p.token != "")
	}
	payload, err := keys.VerifySignature(ctx, p.token)
	if err != nil {
		t.Fatalf("logout token signature: %v", err)
	}
	if h := jwtHeader(t, p.token); h["typ"] != "logout+jwt" {
		t.Errorf("logout token header %v, want typ logout+jwt", h)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	iat, _ := c["iat"].(float64)
	exp, _ := c["exp"].(float64)
	jti, _ := c["jti"].(string)
	at := time.Unix(int64(iat), 0)
	if c["iss"] != issuer {
		t.Errorf("logout token iss %v, want %s", c["iss"], issuer)
	}
	if c["aud"] != clientID && !reflect.DeepEqual(c["aud"], []any{clientID}) {
		t.Errorf("logout token aud %v, want %s", c["aud"], clientID)
	}
	if at.Before(since.Add(-time.Minute)) || at.After(time.Now().Add(time.Minute)) || exp <= iat {
		t.Errorf("logout token iat %v exp %v", iat, exp)
	}
	if len(jti) < 16 {
		t.Errorf("logout token jti %q", jti)
	}
	if c["sub"] != sub {
		t.Errorf("logout token sub %v, want %s", c["sub"], sub)
	}
	if sid, _ := c["sid"].(string); sid == "" {
		t.Error("logout token without sid")
	}
	if !reflect.DeepEqual(c["events"], map[string]any{backchannelLogoutEvent: map[string]any{}}) {
		t.Errorf("logout token events %v", c["events"])
	}
	if _, ok := c["nonce"]; ok {
		t.Error("a logout token with a nonce")
	}
	return c
}

// step runs a subtest that later ones depend on: if it fails, the test
// stops.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

// TestEndToEndOpenIDConnect is the OpenID Provider against go-oidc and
// golang.org/x/oauth2 on one running server: discovery, sign-in with PKCE
// and nonce through the real login page, ID token verification (at_hash,
// sid, auth_time, profile and email claims), UserInfo, refresh, an ID
// token refused where an access token belongs, prompt and max_age,
// RP-initiated logout with back-channel logout tokens (a hanging receiver
// must not slow the sign-out), and a native app's private-use redirect.
func TestEndToEndOpenIDConnect(t *testing.T) {
	s := start(t, t.TempDir(), "--example-inventory")
	a := newAPI(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Every request go-oidc and oauth2 make goes through the watched
	// default transport, each bounded.
	ctx = oidc.ClientContext(ctx, &http.Client{Timeout: 15 * time.Second})
	issuer := "http://" + s.creds.HTTPAddr
	testStart := time.Now()

	user := oidcProfile{
		email: "ada@example.test", password: "correct horse battery staple",
		name: "Ada Ñ. Lovelace ✓", givenName: "Ada", familyName: "Lovelace",
		preferredUsername: "ada", locale: "en-GB",
	}
	userID := s.createProfileUser(t, user)

	// The relying parties' back-channel logout endpoints.
	webLogout, webPosts := newLogoutReceiver(t, false)
	slowLogout, slowPosts := newLogoutReceiver(t, true)

	const (
		webRedirect    = "http://127.0.0.1:53690/cb"
		webPostLogout  = "http://127.0.0.1:53690/signed-out"
		slowRedirect   = "http://127.0.0.1:53691/cb"
		nativeRedirect = "com.example.app:/oauth2redirect"
	)
	var web, slow, native createdClient
	s.cliJSON(t, &web, "clients", "create", "--name", "Web app", "--type", "first_party",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", webRedirect,
		"--scopes", "inventory:read", "--post-logout-redirect-uris", webPostLogout,
		"--backchannel-logout-uri", webLogout.URL+"/oidc/backchannel", "--backchannel-logout-session-required")
	s.cliJSON(t, &slow, "clients", "create", "--name", "Slow app", "--type", "first_party", "--public",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", slowRedirect,
		"--scopes", "inventory:read", "--backchannel-logout-uri", slowLogout.URL+"/hang")
	s.cliJSON(t, &native, "clients", "create", "--name", "Native app", "--type", "first_party", "--public",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", nativeRedirect,
		"--scopes", "inventory:read")
	if web.ClientSecret == "" {
		t.Fatalf("the web app is confidential: no secret in %+v", web)
	}

	// One browser for the whole test: its session cookie is the OP session.
	b := newBrowser(t, s, "http://127.0.0.1:5369")
	b.hc.Timeout = 15 * time.Second

	var (
		provider *oidc.Provider
		meta     struct {
			UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
			EndSessionEndpoint                string   `json:"end_session_endpoint"`
			JWKSURI                           string   `json:"jwks_uri"`
			IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
			ScopesSupported                   []string `json:"scopes_supported"`
			ResponseModesSupported            []string `json:"response_modes_supported"`
			RequestParameterSupported         *bool    `json:"request_parameter_supported"`
			SubjectTypesSupported             []string `json:"subject_types_supported"`
			BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported"`
			BackchannelLogoutSessionSupported bool     `json:"backchannel_logout_session_supported"`
		}
	)
	step(t, "discovery", func(t *testing.T) {
		// NewProvider checks the discovered issuer byte for byte.
		p, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		if ep := p.Endpoint(); ep.AuthURL != issuer+"/oauth2/authorize" || ep.TokenURL != issuer+"/oauth2/token" {
			t.Fatalf("endpoint %+v", ep)
		}
		if err := p.Claims(&meta); err != nil {
			t.Fatal(err)
		}
		if meta.UserinfoEndpoint != issuer+"/oauth2/userinfo" || p.UserInfoEndpoint() != meta.UserinfoEndpoint {
			t.Errorf("userinfo_endpoint %q", meta.UserinfoEndpoint)
		}
		if meta.EndSessionEndpoint != issuer+"/oauth2/logout" {
			t.Errorf("end_session_endpoint %q", meta.EndSessionEndpoint)
		}
		if meta.JWKSURI != issuer+"/.well-known/jwks.json" {
			t.Errorf("jwks_uri %q", meta.JWKSURI)
		}
		// ES256 is the default signing algorithm; never none.
		if !slices.Equal(meta.IDTokenSigningAlgValuesSupported, []string{"ES256"}) {
			t.Errorf("id_token_signing_alg_values_supported %q, want [ES256]", meta.IDTokenSigningAlgValuesSupported)
		}
		// The catalogue's own scopes need not be listed (Discovery §3:
		// a server MAY leave some out); the OpenID Connect ones are.
		for _, sc := range []string{"openid", "profile", "email"} {
			if !slices.Contains(meta.ScopesSupported, sc) {
				t.Errorf("scopes_supported %q lacks %s", meta.ScopesSupported, sc)
			}
		}
		if !slices.Equal(meta.ResponseModesSupported, []string{"query"}) {
			t.Errorf("response_modes_supported %q, want [query]", meta.ResponseModesSupported)
		}
		if meta.RequestParameterSupported == nil || *meta.RequestParameterSupported {
			t.Errorf("request_parameter_supported %v, want false", meta.RequestParameterSupported)
		}
		if !slices.Equal(meta.SubjectTypesSupported, []string{"public"}) || !meta.BackchannelLogoutSupported || !meta.BackchannelLogoutSessionSupported {
			t.Errorf("subject types %q, back-channel logout %v, with sessions %v", meta.SubjectTypesSupported, meta.BackchannelLogoutSupported, meta.BackchannelLogoutSessionSupported)
		}
		provider = p
	})

	newRP := func(c createdClient, redirect string, scopes ...string) *relyingParty {
		ep := provider.Endpoint()
		if c.ClientSecret == "" {
			ep.AuthStyle = oauth2.AuthStyleInParams
		}
		return &relyingParty{
			cfg: &oauth2.Config{
				ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: ep, RedirectURL: redirect,
				Scopes: append([]string{oidc.ScopeOpenID}, scopes...),
			},
			verifier: provider.Verifier(&oidc.Config{ClientID: c.ClientID}),
			issuer:   issuer,
		}
	}
	webRP := newRP(web, webRedirect, "profile", "email", "inventory:read")

	var (
		tok1   *oauth2.Token
		id1    *oidc.IDToken
		c1     idClaims
		rawID1 string
	)
	step(t, "sign-in with PKCE and nonce", func(t *testing.T) {
		nonce := "n-" + oauth2.GenerateVerifier()[:20]
		u, verifier := webRP.authURL("st-signin", nonce)
		back := b.signIn(u, user.email, user.password)
		code := webRP.code(t, back.String(), "st-signin")
		tok1, id1, c1 = webRP.exchange(ctx, t, code, verifier)
		rawID1 = tok1.Extra("id_token").(string)
		if tok1.RefreshToken == "" || tok1.Expiry.IsZero() {
			t.Fatalf("token response: refresh token %v, expiry %v", tok1.RefreshToken != "", tok1.Expiry)
		}
		if id1.Nonce != nonce || c1.Nonce == nil || *c1.Nonce != nonce {
			t.Errorf("nonce %q, want %q", id1.Nonce, nonce)
		}
		if id1.Subject != userID || c1.Azp != web.ClientID {
			t.Errorf("sub %q azp %q, want %q and %q", id1.Subject, c1.Azp, userID, web.ClientID)
		}
		authTime := time.Unix(c1.AuthTime, 0)
		if c1.Sid == "" || c1.AuthTime == 0 || authTime.Before(testStart.Add(-time.Minute)) || authTime.After(time.Now().Add(time.Minute)) {
			t.Errorf("sid %q, auth_time %v: want both, auth_time at this sign-in", c1.Sid, authTime)
		}
		if !slices.Equal(c1.Amr, []string{"pwd"}) {
			t.Errorf("amr %q", c1.Amr)
		}
		if id1.Expiry.Sub(id1.IssuedAt) != 5*time.Minute {
			t.Errorf("ID token lifetime %v, want the default 5m", id1.Expiry.Sub(id1.IssuedAt))
		}
		want := idClaims{
			Name: user.name, GivenName: user.givenName, FamilyName: user.familyName,
			PreferredUsername: user.preferredUsername, Locale: user.locale, Email: user.email,
		}
		got := idClaims{
			Name: c1.Name, GivenName: c1.GivenName, FamilyName: c1.FamilyName,
			PreferredUsername: c1.PreferredUsername, Locale: c1.Locale, Email: c1.Email,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("profile and email claims %+v, want %+v", got, want)
		}
		if c1.EmailVerified == nil || !*c1.EmailVerified || c1.UpdatedAt == 0 {
			t.Errorf("email_verified %v, updated_at %d", c1.EmailVerified, c1.UpdatedAt)
		}
		a.accepted(t, "the access token of an OpenID Connect sign-in", "Bearer "+tok1.AccessToken)
	})

	t.Run("unicode nonce", func(t *testing.T) {
		nonce := "ñónçé ✓ 🙂 \"quoted\" <tag> & a+b%20c"
		u, verifier := webRP.authURL("st-unicode", nonce)
		code, loc, page := b.get(u)
		if code != http.StatusSeeOther {
			t.Fatalf("authorize with a session: %d %s", code, page)
		}
		_, idt, c := webRP.exchange(ctx, t, webRP.code(t, loc, "st-unicode"), verifier)
		if idt.Nonce != nonce {
			t.Fatalf("nonce %q, want %q", idt.Nonce, nonce)
		}
		if c.Sid != c1.Sid || c.AuthTime != c1.AuthTime {
			t.Fatalf("single sign-on in the same session: sid %q auth_time %d, want %q %d", c.Sid, c.AuthTime, c1.Sid, c1.AuthTime)
		}
	})

	t.Run("userinfo", func(t *testing.T) {
		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok1))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		var c idClaims
		if err := info.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if info.Subject != id1.Subject || info.Email != user.email || !info.EmailVerified || c.Name != user.name ||
			c.GivenName != user.givenName || c.FamilyName != user.familyName || c.Locale != user.locale || c.PreferredUsername != user.preferredUsername {
			t.Fatalf("userinfo %+v %+v", info, c)
		}
		// UserInfo carries no ID token claims.
		if c.Nonce != nil || c.Sid != "" || c.AuthTime != 0 {
			t.Fatalf("userinfo has ID token claims: %+v", c)
		}
	})

	var tok2 *oauth2.Token
	t.Run("refresh", func(t *testing.T) {
		var err error
		tok2, err = webRP.refresh(ctx, tok1)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if tok2.AccessToken == tok1.AccessToken {
			t.Fatal("refresh returned the same access token")
		}
		idt, c := webRP.verify(ctx, t, tok2)
		if idt.Subject != id1.Subject || c.AuthTime != c1.AuthTime || c.Sid != c1.Sid {
			t.Errorf("refreshed ID token sub %q auth_time %d sid %q, want %q %d %q", idt.Subject, c.AuthTime, c.Sid, id1.Subject, c1.AuthTime, c1.Sid)
		}
		if idt.Nonce != "" || c.Nonce != nil {
			t.Errorf("refreshed ID token has nonce %q (Core §12.2: none)", idt.Nonce)
		}
		if c.Name != user.name || c.Email != user.email {
			t.Errorf("refreshed ID token claims %+v", c)
		}
		a.accepted(t, "the refreshed access token", "Bearer "+tok2.AccessToken)
	})

	t.Run("an ID token is not an access token", func(t *testing.T) {
		if rc, gc := a.call(t, "Bearer "+rawID1); rc != http.StatusUnauthorized || gc != codes.Unauthenticated {
			t.Errorf("ID token at the inventory API: REST %d, gRPC %v; want 401, Unauthenticated", rc, gc)
		}
		r := s.rest(t, "GET", "/oauth2/userinfo", bearer(rawID1), "")
		if r.code != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("ID token at UserInfo: %d %q", r.code, r.header.Get("WWW-Authenticate"))
		}
		if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: rawID1})); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("go-oidc UserInfo with an ID token: %v, want 401", err)
		}
		// ...and an access token is not an ID token.
		u, _ := webRP.authURL("st-hint", "n-hint", oauth2.SetAuthURLParam("id_token_hint", tok1.AccessToken))
		code, loc, page := b.get(u)
		if code != http.StatusSeeOther {
			t.Fatalf("access token as id_token_hint: %d %s", code, page)
		}
		if q := webRP.response(t, loc, "st-hint"); q.Get("error") != "invalid_request" || q.Has("code") {
			t.Errorf("access token as id_token_hint: %s, want error=invalid_request", loc)
		}
		// The ID token is a good hint for a silent sign-in.
		u, _ = webRP.authURL("st-hint-ok", "n-hint-ok", oauth2.SetAuthURLParam("id_token_hint", rawID1), oauth2.SetAuthURLParam("prompt", "none"))
		_, loc, _ = b.get(u)
		webRP.code(t, loc, "st-hint-ok")
	})

	var (
		tokS2 *oauth2.Token
		cS2   idClaims
		rawS2 string
	)
	step(t, "prompt and max_age", func(t *testing.T) {
		u, _ := webRP.authURL("st-none", "n-none", oauth2.SetAuthURLParam("prompt", "none"))
		code, loc, page := b.get(u)
		if code != http.StatusSeeOther {
			t.Fatalf("prompt=none with a session: %d, want a code without a page:\n%s", code, page)
		}
		webRP.code(t, loc, "st-none")

		// max_age=0 and prompt=login show the login page despite the
		// session (signIn fails without it); signing in gives the code.
		u, verifier := webRP.authURL("st-maxage", "n-maxage", oauth2.SetAuthURLParam("max_age", "0"))
		back := b.signIn(u, user.email, user.password)
		_, idt, c := webRP.exchange(ctx, t, webRP.code(t, back.String(), "st-maxage"), verifier)
		if idt.Nonce != "n-maxage" || c.AuthTime < c1.AuthTime || time.Since(time.Unix(c.AuthTime, 0)) > time.Minute {
			t.Fatalf("ID token after max_age=0: nonce %q auth_time %d, want a fresh auth_time", idt.Nonce, c.AuthTime)
		}

		u, verifier = webRP.authURL("st-login", "n-login", oauth2.SetAuthURLParam("prompt", "login"))
		back = b.signIn(u, user.email, user.password)
		tokS2, idt, cS2 = webRP.exchange(ctx, t, webRP.code(t, back.String(), "st-login"), verifier)
		rawS2 = tokS2.Extra("id_token").(string)
		if idt.Nonce != "n-login" || idt.Subject != userID || cS2.Sid == "" || cS2.AuthTime < c.AuthTime {
			t.Fatalf("ID token after prompt=login: nonce %q sub %q sid %q auth_time %d", idt.Nonce, idt.Subject, cS2.Sid, cS2.AuthTime)
		}
	})

	slowRP := newRP(slow, slowRedirect)
	var slowTok *oauth2.Token
	step(t, "a second client in the same session", func(t *testing.T) {
		u, verifier := slowRP.authURL("st-slow", "n-slow")
		code, loc, page := b.get(u)
		if code != http.StatusSeeOther {
			t.Fatalf("single sign-on: %d %s", code, page)
		}
		var c idClaims
		slowTok, _, c = slowRP.exchange(ctx, t, slowRP.code(t, loc, "st-slow"), verifier)
		if c.Sid != cS2.Sid {
			t.Fatalf("sid %q in the same session as %q", c.Sid, cS2.Sid)
		}
	})

	endSession := func(params url.Values) (int, string, string) {
		return b.get(meta.EndSessionEndpoint + "?" + params.Encode())
	}
	t.Run("logout to an unregistered URI", func(t *testing.T) {
		code, loc, page := endSession(url.Values{"id_token_hint": {rawS2}, "post_logout_redirect_uri": {"http://127.0.0.1:53690/elsewhere"}, "state": {"bye-0"}})
		if code != http.StatusBadRequest || loc != "" {
			t.Fatalf("unregistered post_logout_redirect_uri: %d Location %q, want an error page", code, loc)
		}
		if strings.Contains(page, rawS2) || !strings.Contains(page, "post_logout_redirect_uri") {
			t.Fatalf("error page:\n%s", page)
		}
		// The refusal ended nothing.
		u, _ := webRP.authURL("st-still", "n-still", oauth2.SetAuthURLParam("prompt", "none"))
		_, loc, _ = b.get(u)
		webRP.code(t, loc, "st-still")
	})

	step(t, "RP-initiated logout", func(t *testing.T) {
		begin := time.Now()
		code, loc, page := endSession(url.Values{"id_token_hint": {rawS2}, "post_logout_redirect_uri": {webPostLogout}, "state": {"bye-1"}})
		took := time.Since(begin)
		if code != http.StatusSeeOther || loc != webPostLogout+"?state=bye-1" {
			t.Fatalf("end session: %d Location %q, want 303 to %s?state=bye-1\n%s", code, loc, webPostLogout, page)
		}
		// A receiver that hangs must not hold the user up.
		if took > 2*time.Second {
			t.Errorf("the logout took %v with a hanging back-channel receiver", took)
		}
		t.Logf("logout answered in %v", took)

		u, _ := webRP.authURL("st-gone", "n-gone", oauth2.SetAuthURLParam("prompt", "none"))
		_, loc, _ = b.get(u)
		if q := webRP.response(t, loc, "st-gone"); q.Get("error") != "login_required" || q.Has("code") {
			t.Errorf("prompt=none after the logout: %s, want error=login_required", loc)
		}
		for _, g := range []struct {
			name string
			rp   *relyingParty
			tok  *oauth2.Token
		}{{"web app", webRP, tokS2}, {"slow app", slowRP, slowTok}} {
			_, err := g.rp.refresh(ctx, g.tok)
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Errorf("the %s's refresh token after the logout: %v, want invalid_grant", g.name, err)
			}
		}
		a.refusedSoon(t, "an access token of the ended session", "Bearer "+tokS2.AccessToken)
	})

	t.Run("back-channel logout", func(t *testing.T) {
		keys := oidc.NewRemoteKeySet(ctx, meta.JWKSURI)
		// Every logout token the web app gets is checked; one must be
		// for the session the logout ended.
		var p logoutPost
		deadline := time.After(10 * time.Second)
		for found := false; !found; {
			select {
			case p = <-webPosts:
			case <-deadline:
				t.Fatal("no logout token for the ended session within 10s of the logout")
			}
			c := checkLogoutToken(ctx, t, keys, p, issuer, web.ClientID, userID, testStart)
			found = c["sid"] == cS2.Sid
		}
		// go-oidc's own logout-token checks agree.
		lt, err := provider.Verifier(&oidc.Config{ClientID: web.ClientID}).VerifyLogout(ctx, p.token)
		if err != nil {
			t.Fatalf("VerifyLogout: %v", err)
		}
		if lt.SessionID != cS2.Sid || lt.Subject != userID {
			t.Errorf("VerifyLogout: sid %q sub %q", lt.SessionID, lt.Subject)
		}
		// An ID token does not pass for a logout token.
		if _, err := provider.Verifier(&oidc.Config{ClientID: web.ClientID}).VerifyLogout(ctx, rawS2); err == nil {
			t.Error("an ID token verified as a logout token")
		}
		// The hanging receiver was called too: the logout above did not
		// wait for it.
		select {
		case p := <-slowPosts:
			if c := checkLogoutToken(ctx, t, keys, p, issuer, slow.ClientID, userID, testStart); c["sid"] != cS2.Sid {
				t.Errorf("the slow app's logout token: sid %v, want %q", c["sid"], cS2.Sid)
			}
		case <-time.After(10 * time.Second):
			t.Error("the slow app got no logout token within 10s")
		}
	})

	t.Run("logout ends the grants made before a re-authentication", func(t *testing.T) {
		// tok2 is a grant made before prompt=login (and max_age=0) signed
		// in again in the same browser: the re-authentication kept the
		// session, so the logout above ended tok2's grant too.
		_, err := webRP.refresh(ctx, tok2)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("refresh of a grant of the replaced session after the logout: %v, want invalid_grant", err)
		}
		a.refusedSoon(t, "an access token of the replaced session", "Bearer "+tok2.AccessToken)
	})

	t.Run("native app", func(t *testing.T) {
		nativeRP := newRP(native, nativeRedirect, "profile")
		nb := newBrowser(t, s, "com.example.app:")
		nb.hc.Timeout = 15 * time.Second
		u, verifier := nativeRP.authURL("st-native", "n-native")
		code, _, page := nb.get(u)
		if code != http.StatusOK {
			t.Fatalf("authorize: %d, want the login page", code)
		}
		form := formFields(page)
		form.Set("email", user.email)
		form.Set("password", user.password)
		code, loc, _ := nb.post("/oauth2/login", form)
		if code != http.StatusSeeOther || !strings.HasPrefix(loc, nativeRedirect+"?code=") {
			t.Fatalf("login: %d Location %q, want 303 to %s?code=...", code, loc, nativeRedirect)
		}
		_, idt, _ := nativeRP.exchange(ctx, t, nativeRP.code(t, loc, "st-native"), verifier)
		if idt.Subject != userID || idt.Nonce != "n-native" {
			t.Fatalf("native app's ID token: sub %q nonce %q", idt.Subject, idt.Nonce)
		}
	})
}

// requireNode skips without Node.js or openid-client locally; under CI it
// must run.
func requireNode(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: the Node.js client tests must run)", why)
	}
	t.Skip(why)
}

// TestOpenIDClientNode runs e2e/openid-client/oidc.test.mjs, Node's
// openid-client v6 against the real binary: discovery, PKCE, nonce and
// state through the login page, the code grant with its ID token checks,
// UserInfo, refresh, and RP-initiated logout.
func TestOpenIDClientNode(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "e2e", "openid-client"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		requireNode(t, "node is not installed: install Node.js 20 or later to run the openid-client test")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openid-client", "package.json")); err != nil {
		requireNode(t, "openid-client is not installed: run `npm ci --no-audit --no-fund` in e2e/openid-client")
	}

	s := start(t, t.TempDir())
	user := oidcProfile{
		email: "grace@example.test", password: "a much longer passphrase than that",
		name: "Grace Hopper", givenName: "Grace", familyName: "Hopper", preferredUsername: "grace", locale: "en-US",
	}
	userID := s.createProfileUser(t, user)
	const (
		redirect   = "http://127.0.0.1:53695/cb"
		postLogout = "http://127.0.0.1:53695/signed-out"
	)
	var app createdClient
	s.cliJSON(t, &app, "clients", "create", "--name", "Node app", "--type", "first_party", "--public",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", redirect,
		"--post-logout-redirect-uris", postLogout)

	secrets := filepath.Join(t.TempDir(), "secrets.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test-reporter=tap", "oidc.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(),
		"OIDC_ISSUER=http://"+s.creds.HTTPAddr,
		"OIDC_CLIENT_ID="+app.ClientID,
		"OIDC_REDIRECT_URI="+redirect,
		"OIDC_POST_LOGOUT_REDIRECT_URI="+postLogout,
		"OIDC_EMAIL="+user.email,
		"OIDC_PASSWORD="+user.password,
		"OIDC_SUB="+userID,
		"OIDC_SECRETS_FILE="+secrets,
	)
	begin := time.Now()
	out, err := cmd.CombinedOutput()
	// The tokens the script saw join the leak watch, which scans the
	// server's logs when it stops.
	if b, rerr := os.ReadFile(secrets); rerr == nil {
		leaks.collectJSON(b)
	}
	if err != nil {
		t.Fatalf("node oidc.test.mjs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# fail 0") {
		t.Fatalf("node oidc.test.mjs: no passing summary:\n%s", out)
	}
	t.Logf("openid-client passed in %v:\n%s", time.Since(begin).Round(time.Millisecond), tapSummary(out))
}

// tapSummary is the test names and totals of node's TAP output.
func tapSummary(out []byte) string {
	var lines []string
	for l := range strings.Lines(string(out)) {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "ok ") || strings.HasPrefix(t, "not ok ") || strings.HasPrefix(t, "# ") {
			lines = append(lines, strings.TrimRight(l, "\n"))
		}
	}
	return strings.Join(lines, "\n")
}
