package token_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// revokeAs calls the RFC 7009 endpoint with client_secret_basic.
func (e *env) revokeAs(cl registered, form string) response {
	e.t.Helper()
	return e.do(nil, request{path: "/oauth2/revoke", basic: basic(cl.id, cl.secret), body: form})
}

func (e *env) active(tok string) bool {
	e.t.Helper()
	r := e.introspect(e.introspector, "token="+url.QueryEscape(tok))
	if r.status != http.StatusOK {
		e.t.Fatalf("introspect: %d %s", r.status, r.body)
	}
	return r.json(e.t)["active"] == true
}

func assertEmpty200(t *testing.T, r response) {
	t.Helper()
	if r.status != http.StatusOK || len(r.body) != 0 {
		t.Fatalf("status %d body %q, want an empty 200", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
}

// TestRevokeAccessToken is checklist item 68: revoking an access token
// answers 200, records its jti until it expires, and introspection then
// says active:false.
func TestRevokeAccessToken(t *testing.T) {
	e := newEnv(t)
	tok := e.accessToken(e.partner, "scope=orders%3Aread")
	_, claims := decodeJWT(t, tok)
	if !e.active(tok) {
		t.Fatal("fresh token inactive")
	}
	for _, hint := range []string{"access_token", "refresh_token", "", "bogus"} {
		form := "token=" + tok
		if hint != "" {
			form += "&token_type_hint=" + hint
		}
		assertEmpty200(t, e.revokeAs(e.partner, form))
	}
	got := e.revoker.requests()
	if len(got) == 0 {
		t.Fatal("nothing recorded")
	}
	exp := time.Unix(num(t, claims["exp"]), 0)
	for _, r := range got {
		if r.GetKind() != revocationv1.Kind_KIND_ACCESS_TOKEN || r.GetId() != claims["jti"] {
			t.Fatalf("recorded %v", r)
		}
		// Validators allow the clock skew past exp: the entry outlives it.
		if !r.GetExpireTime().AsTime().Equal(exp.Add(30 * time.Second)) {
			t.Errorf("entry expires %v, want exp+skew %v", r.GetExpireTime().AsTime(), exp.Add(30*time.Second))
		}
	}
	if e.active(tok) {
		t.Fatal("revoked token still active at introspection")
	}
}

// TestRevokeNothingToRevoke is checklist item 69: unknown, garbage,
// expired and foreign tokens, whatever the hint, get the same empty 200
// and nothing is recorded.
func TestRevokeNothingToRevoke(t *testing.T) {
	e := newEnv(t)
	theirs := e.accessToken(e.introspector, "")
	expiring := e.accessToken(e.partner, "")
	e.clock.Advance(16 * time.Minute)
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	// Our issuer, the caller's client_id, a key that is not ours.
	forged := e.signed(t, rogue, "at+jwt", func(b *jwt.Builder) *jwt.Builder {
		return b.Issuer(e.issuer).Subject(e.partner.id).Audience([]string{defaultAudience}).
			IssuedAt(now).Expiration(now.Add(time.Minute)).JwtID("jti-forged").Claim("client_id", e.partner.id)
	})
	for name, form := range map[string]string{
		"garbage":               "token=not-a-token",
		"garbage, bogus hint":   "token=xyz&token_type_hint=id_token",
		"opaque, refresh hint":  "token=" + url.QueryEscape("c2VjcmV0LXJlZnJlc2gtdG9rZW4") + "&token_type_hint=refresh_token",
		"forged signature":      "token=" + forged,
		"expired":               "token=" + expiring,
		"longer than any token": "token=" + string(bytesOf('a', 9000)),
	} {
		t.Run(name, func(t *testing.T) { assertEmpty200(t, e.revokeAs(e.partner, form)) })
	}
	// Another client's token (item 70): 200, and it stays active.
	e.clock.Advance(-16 * time.Minute)
	assertEmpty200(t, e.revokeAs(e.partner, "token="+theirs))
	if got := e.revoker.requests(); len(got) != 0 {
		t.Fatalf("recorded %v", got)
	}
	if !e.active(theirs) {
		t.Fatal("another client's token was revoked")
	}
}

// TestRevokeRefusals is checklist item 70: client authentication is
// required as at the token endpoint, API keys are an unsupported type,
// and an unavailable revocation list is a 503 with Retry-After.
func TestRevokeRefusals(t *testing.T) {
	e := newEnv(t)
	tok := e.accessToken(e.partner, "")

	assertOAuthError(t, e.do(nil, request{path: "/oauth2/revoke", body: "token=" + tok}), http.StatusUnauthorized, "invalid_client")
	assertOAuthError(t, e.do(nil, request{path: "/oauth2/revoke", basic: basic(e.partner.id, "wrong"), body: "token=" + tok}), http.StatusUnauthorized, "invalid_client")
	assertOAuthError(t, e.revokeAs(e.partner, "token_type_hint=access_token"), http.StatusBadRequest, "invalid_request")
	assertOAuthError(t, e.revokeAs(e.partner, "token=gth_k1234567890abcdef_secret"), http.StatusBadRequest, "unsupported_token_type")
	if r := e.do(nil, request{method: http.MethodGet, path: "/oauth2/revoke", ctype: "-"}); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", r.status)
	}
	if got := e.revoker.requests(); len(got) != 0 {
		t.Fatalf("refused requests recorded %v", got)
	}

	e.revoker.setDown(true)
	r := e.revokeAs(e.partner, "token="+tok)
	assertOAuthError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	e.revoker.setDown(false)
	if !e.active(tok) {
		t.Fatal("token inactive after a failed revocation")
	}
	assertEmpty200(t, e.revokeAs(e.partner, "token="+tok))
	if e.active(tok) {
		t.Fatal("token active after the retried revocation")
	}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
