package token_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestClientCredentialsWithOAuth2Client drives the token endpoint with
// golang.org/x/oauth2's client, both auth styles, and checks the response
// and every header member and claim of the RFC 9068 token.
func TestClientCredentialsWithOAuth2Client(t *testing.T) {
	e := newEnv(t)
	// Item 53 end to end: a secret with ': % + & =' that x/oauth2
	// form-encodes before Base64, as RFC 6749 §2.3.1 requires.
	special := "s3cr:et%41+&=/ x"
	e.setSecret(e.partner.id, special)
	e.partner.secret = special

	tests := []struct {
		name      string
		client    registered
		style     oauth2.AuthStyle
		scopes    []string
		resource  string
		wantScope string
		wantAud   string
		wantLife  time.Duration
	}{
		{"basic, default scopes", e.partner, oauth2.AuthStyleInHeader, nil, "", "orders:read orders:write", defaultAudience, 15 * time.Minute},
		{"basic, narrowed scope", e.partner, oauth2.AuthStyleInHeader, []string{"orders:read"}, "", "orders:read", defaultAudience, 15 * time.Minute},
		{"basic, repeated scope token", e.partner, oauth2.AuthStyleInHeader, []string{"orders:write", "orders:write"}, "", "orders:write", defaultAudience, 15 * time.Minute},
		{"basic, resource indicator", e.partner, oauth2.AuthStyleInHeader, nil, ordersResource, "orders:read orders:write", ordersResource, 15 * time.Minute},
		{"basic, loopback http resource", e.partner, oauth2.AuthStyleInHeader, []string{"orders:read"}, billingResource, "orders:read", billingResource, 15 * time.Minute},
		{"post, default scopes", e.poster, oauth2.AuthStyleInParams, nil, "", "orders:read", defaultAudience, 10 * time.Minute},
		{"basic, client without scopes", e.noScopes, oauth2.AuthStyleInHeader, nil, "", "", defaultAudience, 10 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := clientcredentials.Config{
				ClientID: tc.client.id, ClientSecret: tc.client.secret, TokenURL: e.svc.Endpoints().Token,
				Scopes: tc.scopes, AuthStyle: tc.style,
			}
			if tc.resource != "" {
				cfg.EndpointParams = url.Values{"resource": {tc.resource}}
			}
			tok, err := cfg.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || tok.RefreshToken != "" {
				t.Errorf("token_type %q, refresh_token %q: want Bearer and none (RFC 6749 §4.4.3)", tok.TokenType, tok.RefreshToken)
			}
			if got := tok.Extra("scope"); tc.wantScope != "" && got != tc.wantScope || tc.wantScope == "" && got != nil {
				t.Errorf("response scope %v, want %q", got, tc.wantScope)
			}
			if got := int64(tok.Extra("expires_in").(float64)); got != int64(tc.wantLife/time.Second) {
				t.Errorf("expires_in %d, want %d", got, int64(tc.wantLife/time.Second))
			}
			checkAccessToken(t, e, tok.AccessToken, tc.client.id, tc.wantAud, tc.wantScope, tc.wantLife)
		})
	}
}

var jtiPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// checkAccessToken decodes an issued JWT and checks its header and every
// claim (RFC 9068 §2), then its signature with jwx.
func checkAccessToken(t *testing.T, e *env, tok, clientID, aud, scope string, life time.Duration) {
	t.Helper()
	header, claims := decodeJWT(t, tok)
	if keys(header) != "[alg kid typ]" || header["alg"] != "ES256" || header["kid"] != "k1" || header["typ"] != "at+jwt" {
		t.Errorf("header %v, want exactly alg ES256, kid k1, typ at+jwt", header)
	}
	want := "[aud client_id exp iat iss jti nbf scope sub]"
	if scope == "" {
		want = "[aud client_id exp iat iss jti nbf sub]" // no empty scope claim
	}
	if got := keys(claims); got != want {
		t.Errorf("claims %s, want %s", got, want)
	}
	now := e.clock.Now().Unix()
	iat, nbf, exp := num(t, claims["iat"]), num(t, claims["nbf"]), num(t, claims["exp"])
	switch {
	case claims["iss"] != e.issuer:
		t.Errorf("iss %v, want %s", claims["iss"], e.issuer)
	case claims["sub"] != clientID || claims["client_id"] != clientID:
		t.Errorf("sub %v, client_id %v, want %s", claims["sub"], claims["client_id"], clientID)
	case !strings.HasPrefix(clientID, "c_"):
		t.Errorf("client ids are namespaced c_... so they cannot collide with user subjects: %s", clientID)
	case claims["aud"] != aud:
		t.Errorf("aud %v, want %s", claims["aud"], aud)
	case scope != "" && claims["scope"] != scope:
		t.Errorf("scope %v, want %s", claims["scope"], scope)
	case iat != now || nbf != now || exp != now+int64(life/time.Second):
		t.Errorf("iat %d nbf %d exp %d; want %d, %d, %d", iat, nbf, exp, now, now, now+int64(life/time.Second))
	}
	jti, _ := claims["jti"].(string)
	if b, err := base64.RawURLEncoding.DecodeString(jti); !jtiPattern.MatchString(jti) || err != nil || len(b) != 16 {
		t.Errorf("jti %q: want 128 random bits, base64url", jti)
	}
	if _, err := jwt.Parse([]byte(tok), jwt.WithKey(jwa.ES256, e.pub), jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(e.clock.Now)), jwt.WithIssuer(e.issuer), jwt.WithAudience(aud)); err != nil {
		t.Errorf("jwx does not accept the token: %v", err)
	}
}

// TestTokenResponseFormat checks the raw success response (RFC 6749 §5.1).
func TestTokenResponseFormat(t *testing.T) {
	e := newEnv(t)
	r := e.tokenFor(nil, e.partner, "scope=orders%3Aread")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	for h, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s %q, want %q", h, got, want)
		}
	}
	m := r.json(t)
	if got := keys(m); got != "[access_token expires_in scope token_type]" {
		t.Errorf("members %s: want access_token, expires_in, scope, token_type and no refresh_token", got)
	}
	if m["token_type"] != "Bearer" || m["expires_in"] != float64(900) || m["scope"] != "orders:read" {
		t.Errorf("response %v", m)
	}
}

// TestJTIEntropy is item 61 for access tokens: every jti carries 128 bits
// (22 base64url characters) and none repeats over N tokens, whose
// characters are spread over the whole alphabet.
func TestJTIEntropy(t *testing.T) {
	e := newEnv(t)
	const n = 300
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range n {
		// Within the client's budget of 50 tokens a second.
		e.clock.Advance(25 * time.Millisecond)
		_, claims := decodeJWT(t, e.accessToken(e.partner, ""))
		jti := claims["jti"].(string)
		if !jtiPattern.MatchString(jti) {
			t.Fatalf("jti %q is not 22 base64url characters", jti)
		}
		if seen[jti] {
			t.Fatalf("jti %q issued twice", jti)
		}
		seen[jti] = true
		for _, c := range jti[:21] { // the last character carries 2 bits only
			counts[c]++
		}
	}
	// 6300 characters over 64 symbols: about 98 each. A constant or
	// counter-like jti would leave most symbols unused.
	if len(counts) != 64 {
		t.Errorf("jti characters use %d of the 64 base64url symbols", len(counts))
	}
	for c, k := range counts {
		if k < 40 || k > 180 {
			t.Errorf("symbol %q appears %d times in %d characters: not uniform", c, k, 21*n)
		}
	}
}
