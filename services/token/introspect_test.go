package token_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
)

func (e *env) introspect(caller registered, form string) response {
	e.t.Helper()
	return e.do(nil, request{path: "/oauth2/introspect", basic: basic(caller.id, caller.secret), body: form})
}

// signed signs claims with the test key (or another), as the token service
// would, for tokens the endpoint cannot issue itself.
func (e *env) signed(t *testing.T, key jwk.Key, typ string, build func(b *jwt.Builder) *jwt.Builder) string {
	t.Helper()
	tok, err := build(jwt.NewBuilder()).Build()
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, "k1")
	_ = h.Set(jws.TypeKey, typ)
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIntrospectActive is checklist item 72: an active token is described
// with exactly the RFC 7662 §2.2 members, matching its claims; cnf appears
// for a certificate-bound token.
func TestIntrospectActive(t *testing.T) {
	e := newEnv(t)
	tok := e.accessToken(e.partner, "scope=orders%3Aread&resource="+url.QueryEscape(ordersResource))
	_, claims := decodeJWT(t, tok)
	now := e.clock.Now()
	bound := e.signed(t, e.priv, "at+jwt", func(b *jwt.Builder) *jwt.Builder {
		return b.Issuer(e.issuer).Subject("c_bound").Audience([]string{"https://a.example", "https://b.example"}).
			IssuedAt(now).Expiration(now.Add(time.Minute)).JwtID("jti-bound").
			Claim("client_id", "c_bound").Claim("cnf", map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})
	})

	tests := []struct {
		name  string
		form  string
		check func(t *testing.T, m map[string]any)
	}{
		{"issued token", "token=" + tok, func(t *testing.T, m map[string]any) {
			if got := keys(m); got != "[active aud client_id exp iat iss jti nbf scope sub token_type]" {
				t.Errorf("members %s", got)
			}
			want := map[string]any{
				"active": true, "scope": "orders:read", "client_id": e.partner.id, "sub": e.partner.id,
				"aud": ordersResource, "iss": e.issuer, "jti": claims["jti"], "token_type": "Bearer",
				"exp": float64(num(t, claims["exp"])), "iat": float64(num(t, claims["iat"])), "nbf": float64(num(t, claims["nbf"])),
			}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
		}},
		{"an unknown token_type_hint is ignored", "token=" + tok + "&token_type_hint=bogus", func(t *testing.T, m map[string]any) {
			if m["active"] != true {
				t.Errorf("%v", m)
			}
		}},
		{"a refresh_token hint is only a hint", "token=" + tok + "&token_type_hint=refresh_token", func(t *testing.T, m map[string]any) {
			if m["active"] != true {
				t.Errorf("%v", m)
			}
		}},
		{"certificate-bound token has cnf, several audiences an array", "token=" + bound, func(t *testing.T, m map[string]any) {
			cnf, _ := m["cnf"].(map[string]any)
			if cnf["x5t#S256"] != "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" {
				t.Errorf("cnf %v", m["cnf"])
			}
			if aud, _ := m["aud"].([]any); len(aud) != 2 || aud[0] != "https://a.example" {
				t.Errorf("aud %v", m["aud"])
			}
			if _, ok := m["scope"]; ok {
				t.Errorf("a token without scope has a scope member: %v", m)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.introspect(e.introspector, tc.form)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", r.header)
			}
			tc.check(t, r.json(t))
		})
	}
}

// TestIntrospectInactive is checklist item 73: every token that is not
// active gets exactly {"active":false}.
func TestIntrospectInactive(t *testing.T) {
	e := newEnv(t)
	rs := e.create(&clientsv1.Client{
		Name: "Busy RS", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"gatehouse:introspect.all"}, RateLimitTier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_HIGH,
	})
	tok := e.accessToken(e.partner, "")
	now := e.clock.Now()
	otherRaw, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := jwk.FromRaw(otherRaw)
	valid := func(b *jwt.Builder) *jwt.Builder {
		return b.Issuer(e.issuer).Subject(e.partner.id).Audience([]string{defaultAudience}).
			IssuedAt(now).Expiration(now.Add(time.Minute)).JwtID("x").Claim("client_id", e.partner.id)
	}
	parts := strings.Split(tok, ".")
	flipped := []byte(parts[2])
	flipped[5] ^= 1
	if flipped[5] == '.' {
		flipped[5] = 'A'
	}

	tests := []struct {
		name  string
		token string
		after time.Duration // clock moved before asking
	}{
		{"garbage", "not a token", 0},
		{"three empty parts", "..", 0},
		{"a JSON object", `{"active":true}`, 0},
		{"tampered signature", parts[0] + "." + parts[1] + "." + string(flipped), 0},
		{"truncated signature", tok[:len(tok)-10], 0},
		{"tampered claims", parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2], 0},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + ".", 0},
		{"signed by another key under our kid", e.signed(t, other, "at+jwt", valid), 0},
		{"another issuer", e.signed(t, e.priv, "at+jwt", func(b *jwt.Builder) *jwt.Builder {
			return valid(b).Issuer("https://evil.example")
		}), 0},
		{"not an access token (typ JWT)", e.signed(t, e.priv, "JWT", valid), 0},
		{"not yet valid", e.signed(t, e.priv, "at+jwt", func(b *jwt.Builder) *jwt.Builder {
			return valid(b).NotBefore(now.Add(10 * time.Minute)).Expiration(now.Add(20 * time.Minute))
		}), 0},
		{"oversized", strings.Repeat("a", 9<<10), 0},
		{"expired", tok, 16 * time.Minute},
		{"exactly at exp", e.signed(t, e.priv, "at+jwt", valid), time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.after > 0 {
				e.clock.Advance(tc.after)
				defer e.clock.Advance(-tc.after)
			}
			r := e.introspect(rs, "token="+url.QueryEscape(tc.token))
			if r.status != http.StatusOK || string(r.body) != `{"active":false}` {
				t.Fatalf("%d %s, want 200 {\"active\":false} and no other member", r.status, r.body)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
		})
	}
	// The same token is still active before its exp: the cases above
	// failed for their own reason.
	if m := e.introspect(rs, "token="+tok).json(t); m["active"] != true {
		t.Fatalf("the valid token is not active: %v", m)
	}
}

// TestIntrospectCaller is checklist item 74: the caller authenticates as at
// the token endpoint, needs gatehouse:introspect, and is rate limited.
func TestIntrospectCaller(t *testing.T) {
	e := newEnv(t)
	tok := e.accessToken(e.partner, "")
	form := "token=" + tok
	tests := []struct {
		name   string
		req    request
		status int
		code   string
	}{
		{"no credentials", request{body: form}, 401, "invalid_client"},
		{"wrong secret", request{basic: basic(e.introspector.id, "wrong"), body: form}, 401, "invalid_client"},
		{"unknown client", request{basic: basic("c_nobody", "x"), body: form}, 401, "invalid_client"},
		{"token only, as client_id", request{body: form + "&client_id=" + e.introspector.id}, 401, "invalid_client"},
		{"Basic plus body secret", request{basic: basic(e.introspector.id, e.introspector.secret), body: form + "&client_secret=" + e.introspector.secret}, 400, "invalid_request"},
		{"client without gatehouse:introspect", request{basic: basic(e.partner.id, e.partner.secret), body: form}, 403, "insufficient_scope"},
		{"missing token", request{basic: basic(e.introspector.id, e.introspector.secret), body: "token_type_hint=access_token"}, 400, "invalid_request"},
		{"token in the URL query", request{basic: basic(e.introspector.id, e.introspector.secret), query: form}, 400, "invalid_request"},
		{"token twice", request{basic: basic(e.introspector.id, e.introspector.secret), body: form + "&" + form}, 400, "invalid_request"},
		{"JSON body", request{ctype: "application/json", basic: basic(e.introspector.id, e.introspector.secret), body: `{"token":"x"}`}, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.path = "/oauth2/introspect"
			r := e.do(nil, tc.req)
			assertOAuthError(t, r, tc.status, tc.code)
			for _, leak := range []string{"active", e.partner.id, "orders:"} {
				if strings.Contains(string(r.body), leak) {
					t.Errorf("a refused caller learns %q: %s", leak, r.body)
				}
			}
		})
	}

	t.Run("GET gets 405", func(t *testing.T) {
		r := e.do(nil, request{method: http.MethodGet, path: "/oauth2/introspect", basic: basic(e.introspector.id, e.introspector.secret)})
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
			t.Errorf("%d Allow %q", r.status, r.header.Get("Allow"))
		}
	})

	t.Run("rate limited per caller against token scanning", func(t *testing.T) {
		e.clock.Advance(time.Minute) // a full budget
		// The introspector is in the low tier: 5/s, burst 10.
		scanner := e.introspector
		for i := range 10 {
			if r := e.introspect(scanner, "token=guess"+string(rune('a'+i))); r.status != http.StatusOK {
				t.Fatalf("request %d: %d %s", i, r.status, r.body)
			}
		}
		r := e.introspect(scanner, form)
		assertOAuthError(t, r, http.StatusTooManyRequests, "invalid_request")
		if r.header.Get("Retry-After") == "" || strings.Contains(string(r.body), "active") {
			t.Errorf("429 without Retry-After, or with token data: %v %s", r.header, r.body)
		}
		// Another caller is not affected.
		second := e.create(&clientsv1.Client{
			Name: "Second RS", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"gatehouse:introspect.all"},
		})
		if m := e.introspect(second, form).json(t); m["active"] != true {
			t.Errorf("another caller is locked out: %v", m)
		}
		e.clock.Advance(time.Second)
		if m := e.introspect(scanner, form).json(t); m["active"] != true {
			t.Errorf("after refill: %v", m)
		}
	})
}
