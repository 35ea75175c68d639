package dpop_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

var (
	t0       = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	nonceKey = bytes.Repeat([]byte{7}, 32)
)

const (
	tokenURL = "https://as.example/oauth2/token"
	atoken   = "eyJ.access.token"
)

func claimsAt(iat time.Time, jti string) map[string]any {
	return map[string]any{"jti": jti, "htm": "POST", "htu": tokenURL, "iat": iat.Unix()}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func newVerifier(t *testing.T, opts ...dpop.Option) *dpop.Verifier {
	t.Helper()
	v, err := dpop.NewVerifier(append([]dpop.Option{dpop.WithClock(func() time.Time { return t0 })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	es, ed, rs, other := newES256(t), newEd25519(t), newRS256(t), newES256(t)
	hs := &holder{priv: []byte("0123456789abcdef0123456789abcdef"), alg: "HS256",
		jwk: map[string]any{"kty": "oct", "k": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}}
	nonces, err := dpop.NewNonces(nonceKey, "token", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	base := claimsAt(t0, "j")
	privateJWK := with(es.jwk, "d", "AAAA")
	signedByOther := &holder{priv: other.priv, alg: "ES256", jwk: es.jwk}

	tests := []struct {
		name    string
		h       *holder
		hdr     map[string]any
		claims  map[string]any
		req     dpop.Request
		opts    []dpop.Option
		wantErr error
	}{
		{name: "ES256 accepted", h: es, claims: base},
		{name: "EdDSA accepted", h: ed, claims: base},
		{name: "htu normalised: case, default port, query and fragment", h: es,
			claims: with(base, "htu", "HTTPS://AS.Example:443/oauth2/%74oken?x=1#f")},
		{name: "request URI with a query", h: es, claims: base, req: dpop.Request{Method: "POST", URI: tokenURL + "?a=b"}},
		{name: "iat 10s before", h: es, claims: with(base, "iat", t0.Add(-10*time.Second).Unix())},
		{name: "iat 10s after", h: es, claims: with(base, "iat", t0.Add(10*time.Second).Unix())},
		{name: "RS256 when configured", h: rs, claims: base, opts: []dpop.Option{dpop.WithAlgorithms(jwa.ES256, jwa.RS256)}},
		{name: "ath at a resource", h: es, claims: with(base, "ath", dpop.AccessTokenHash(atoken)),
			req: dpop.Request{Method: "POST", URI: tokenURL, AccessToken: atoken}},
		{name: "current nonce", h: es, claims: with(base, "nonce", nonces.Current(t0)), opts: []dpop.Option{dpop.WithNonces(nonces)}},
		{name: "previous nonce", h: es, claims: with(base, "nonce", nonces.Current(t0.Add(-time.Minute))), opts: []dpop.Option{dpop.WithNonces(nonces)}},

		{name: "no typ", h: es, hdr: map[string]any{"typ": nil}, claims: base, wantErr: dpop.ErrInvalidProof},
		{name: "typ JWT", h: es, hdr: map[string]any{"typ": "JWT"}, claims: base, wantErr: dpop.ErrInvalidProof},
		{name: "typ at+jwt", h: es, hdr: map[string]any{"typ": "at+jwt"}, claims: base, wantErr: dpop.ErrInvalidProof},
		{name: "alg none", h: es, hdr: map[string]any{"alg": "none"}, claims: base, wantErr: dpop.ErrInvalidProof},
		{name: "alg HS256 with an oct jwk", h: hs, claims: base, wantErr: dpop.ErrInvalidProof},
		{name: "alg RS256 not allowed by default", h: rs, claims: base, wantErr: dpop.ErrInvalidProof},
		{name: "alg of the header differs from the key", h: es, hdr: map[string]any{"alg": "EdDSA"}, claims: base, wantErr: dpop.ErrInvalidProof},
		{name: "no jwk", h: es, hdr: map[string]any{"jwk": nil}, claims: base, wantErr: dpop.ErrInvalidProof},
		{name: "private key in jwk", h: es, hdr: map[string]any{"jwk": privateJWK}, claims: base, wantErr: dpop.ErrInvalidProof},
		{name: "crit", h: es, hdr: map[string]any{"crit": []string{"x"}, "x": 1}, claims: base, wantErr: dpop.ErrInvalidProof},
		{name: "signed by another key", h: signedByOther, claims: base, wantErr: dpop.ErrInvalidProof},
		{name: "no jti", h: es, claims: with(base, "jti", nil), wantErr: dpop.ErrInvalidProof},
		{name: "no htm", h: es, claims: with(base, "htm", nil), wantErr: dpop.ErrInvalidProof},
		{name: "wrong htm", h: es, claims: with(base, "htm", "GET"), wantErr: dpop.ErrInvalidProof},
		{name: "htm in lower case", h: es, claims: with(base, "htm", "post"), wantErr: dpop.ErrInvalidProof},
		{name: "no htu", h: es, claims: with(base, "htu", nil), wantErr: dpop.ErrInvalidProof},
		{name: "wrong htu path", h: es, claims: with(base, "htu", "https://as.example/oauth2/introspect"), wantErr: dpop.ErrInvalidProof},
		{name: "wrong htu host", h: es, claims: with(base, "htu", "https://evil.example/oauth2/token"), wantErr: dpop.ErrInvalidProof},
		{name: "wrong htu scheme", h: es, claims: with(base, "htu", "http://as.example/oauth2/token"), wantErr: dpop.ErrInvalidProof},
		{name: "no iat", h: es, claims: with(base, "iat", nil), wantErr: dpop.ErrInvalidProof},
		{name: "stale iat", h: es, claims: with(base, "iat", t0.Add(-61*time.Second).Unix()), wantErr: dpop.ErrInvalidProof},
		{name: "iat an hour before", h: es, claims: with(base, "iat", t0.Add(-time.Hour).Unix()), wantErr: dpop.ErrInvalidProof},
		{name: "future iat", h: es, claims: with(base, "iat", t0.Add(61*time.Second).Unix()), wantErr: dpop.ErrInvalidProof},
		{name: "stale iat in a narrower window", h: es, claims: with(base, "iat", t0.Add(-10*time.Second).Unix()),
			opts: []dpop.Option{dpop.WithWindow(5 * time.Second)}, wantErr: dpop.ErrInvalidProof},
		{name: "no ath with an access token", h: es, claims: base,
			req: dpop.Request{Method: "POST", URI: tokenURL, AccessToken: atoken}, wantErr: dpop.ErrInvalidProof},
		{name: "wrong ath", h: es, claims: with(base, "ath", dpop.AccessTokenHash("another")),
			req: dpop.Request{Method: "POST", URI: tokenURL, AccessToken: atoken}, wantErr: dpop.ErrInvalidProof},
		{name: "no nonce where demanded", h: es, claims: base, opts: []dpop.Option{dpop.WithNonces(nonces)}, wantErr: dpop.ErrUseNonce},
		{name: "expired nonce", h: es, claims: with(base, "nonce", nonces.Current(t0.Add(-2*time.Minute))),
			opts: []dpop.Option{dpop.WithNonces(nonces)}, wantErr: dpop.ErrUseNonce},
		{name: "forged nonce", h: es, claims: with(base, "nonce", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
			opts: []dpop.Option{dpop.WithNonces(nonces)}, wantErr: dpop.ErrUseNonce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, tt.opts...)
			req := tt.req
			if req.Method == "" {
				req = dpop.Request{Method: "POST", URI: tokenURL}
			}
			p, err := v.Verify(tt.h.proof(t, tt.hdr, tt.claims), req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify: %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.JKT != tt.h.jkt(t) {
				t.Errorf("JKT %q, want %q", p.JKT, tt.h.jkt(t))
			}
		})
	}
}

func TestVerifyReplay(t *testing.T) {
	now := t0
	v := newVerifier(t, dpop.WithClock(func() time.Time { return now }))
	es := newES256(t)
	req := dpop.Request{Method: "POST", URI: tokenURL}
	p := es.proof(t, nil, claimsAt(now, "once"))
	if _, err := v.Verify(p, req); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := v.Verify(p, req); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("replay: %v, want ErrInvalidProof", err)
	}
	// The same jti under another key is another proof.
	if _, err := v.Verify(newES256(t).proof(t, nil, claimsAt(now, "once")), req); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
	// A refused proof does not use up its jti.
	if _, err := v.Verify(es.proof(t, nil, with(claimsAt(now, "later"), "htm", "GET")), req); err == nil {
		t.Fatal("wrong htm accepted")
	}
	if _, err := v.Verify(es.proof(t, nil, claimsAt(now, "later")), req); err != nil {
		t.Fatalf("jti of a refused proof: %v", err)
	}
	// Once out of the window the proof fails on iat, not the cache.
	now = now.Add(2*dpop.DefaultWindow + time.Second)
	if _, err := v.Verify(p, req); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("after the window: %v", err)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	now := t0
	v := newVerifier(t, dpop.WithClock(func() time.Time { return now }), dpop.WithReplayEntries(3))
	es := newES256(t)
	req := dpop.Request{Method: "POST", URI: tokenURL}
	for i := range 3 {
		if _, err := v.Verify(es.proof(t, nil, claimsAt(now, fmt.Sprint(i))), req); err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
	}
	// Full of live entries: refused rather than forgetting one early.
	if _, err := v.Verify(es.proof(t, nil, claimsAt(now, "3")), req); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("full cache: %v", err)
	}
	// The entries expire and make room.
	now = now.Add(2*dpop.DefaultWindow + time.Second)
	if _, err := v.Verify(es.proof(t, nil, claimsAt(now, "3")), req); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

func TestNewVerifierRefusesSymmetricAlgorithms(t *testing.T) {
	for _, a := range []jwa.SignatureAlgorithm{jwa.NoSignature, jwa.HS256, jwa.HS512} {
		if _, err := dpop.NewVerifier(dpop.WithAlgorithms(a)); err == nil {
			t.Errorf("WithAlgorithms(%s) accepted", a)
		}
	}
}

func TestNonces(t *testing.T) {
	n, err := dpop.NewNonces(nonceKey, "token", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := dpop.NewNonces(nonceKey, "resource", time.Minute)
	otherKey, _ := dpop.NewNonces(bytes.Repeat([]byte{8}, 32), "token", time.Minute)
	cur := n.Current(t0)
	tests := []struct {
		name          string
		n             *dpop.Nonces
		at            time.Time
		ok, isCurrent bool
	}{
		{"same slot", n, t0, true, true},
		{"next slot", n, t0.Add(time.Minute), true, false},
		{"two slots on", n, t0.Add(2 * time.Minute), false, false},
		{"earlier slot", n, t0.Add(-time.Minute), false, false},
		{"another purpose", other, t0, false, false},
		{"another key", otherKey, t0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, isCur := tt.n.Check(cur, tt.at)
			if ok != tt.ok || isCur != tt.isCurrent {
				t.Errorf("Check = %v, %v; want %v, %v", ok, isCur, tt.ok, tt.isCurrent)
			}
		})
	}
	if _, err := dpop.NewNonces([]byte("short"), "token", 0); err == nil {
		t.Error("a short key accepted")
	}
}

func TestNormalizeHTU(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://as.example/oauth2/token", "https://as.example/oauth2/token"},
		{"HTTPS://AS.EXAMPLE:443/oauth2/token", "https://as.example/oauth2/token"},
		{"http://as.example:80/x", "http://as.example/x"},
		{"https://as.example:8443/x", "https://as.example:8443/x"},
		{"https://as.example", "https://as.example/"},
		{"https://as.example/a/./b/../c?q=1#f", "https://as.example/a/c"},
		{"https://as.example/%7euser/%2f", "https://as.example/~user/%2F"},
	}
	for _, tt := range tests {
		got, err := dpop.NormalizeHTU(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeHTU(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "/oauth2/token", "ftp://as.example/x", "urn:x:y", "https://"} {
		if got, err := dpop.NormalizeHTU(bad); err == nil {
			t.Errorf("NormalizeHTU(%q) = %q, want an error", bad, got)
		}
	}
}
