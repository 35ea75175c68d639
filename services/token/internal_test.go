package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

type staticSigner struct{ key SigningKey }

func (s staticSigner) SigningKey(context.Context) (SigningKey, error) { return s.key, nil }

func mustJWK(t *testing.T, raw any) jwk.Key {
	t.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSigningAlgorithms: the hand-built JWS verifies with jwx for every
// algorithm the key service may hand out, and keys that do not fit their
// algorithm are refused.
func TestSigningAlgorithms(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // refused on purpose
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	withAlg := mustJWK(t, p256)
	_ = withAlg.Set(jwk.AlgorithmKey, jwa.ES384)

	tests := []struct {
		name string
		alg  jwa.SignatureAlgorithm
		key  jwk.Key
		ok   bool
	}{
		{"ES256", jwa.ES256, mustJWK(t, p256), true},
		{"ES384", jwa.ES384, mustJWK(t, p384), true},
		{"ES512", jwa.ES512, mustJWK(t, p521), true},
		{"RS256", jwa.RS256, mustJWK(t, rsaKey), true},
		{"PS256", jwa.PS256, mustJWK(t, rsaKey), true},
		{"PS512", jwa.PS512, mustJWK(t, rsaKey), true},
		{"EdDSA", jwa.EdDSA, mustJWK(t, edKey), true},
		{"ES256 with a P-384 key", jwa.ES256, mustJWK(t, p384), false},
		{"ES256 with an RSA key", jwa.ES256, mustJWK(t, rsaKey), false},
		{"RS256 with an EC key", jwa.RS256, mustJWK(t, p256), false},
		{"RS256 with 1024 bits", jwa.RS256, mustJWK(t, smallRSA), false},
		{"a public key", jwa.ES256, mustJWK(t, &p256.PublicKey), false},
		{"JWK alg differs", jwa.ES256, withAlg, false},
		{"HS256", jwa.HS256, mustJWK(t, []byte("0123456789abcdef0123456789abcdef")), false},
		{"none", jwa.NoSignature, mustJWK(t, p256), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			m := newJWTMinter("https://issuer.example", staticSigner{SigningKey{KID: "kid-1", Alg: tc.alg, Key: tc.key}}, func() time.Time { return now })
			got, err := m.mint(context.Background(), accessToken{subject: "c_x", clientID: "c_x", audience: "https://api", scope: "a b", lifetime: time.Minute})
			if !tc.ok {
				if err == nil {
					t.Fatal("minted with an unfit key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pub, err := jwk.PublicKeyOf(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := jwt.Parse([]byte(got.jwt), jwt.WithKey(tc.alg, pub), jwt.WithValidate(true))
			if err != nil {
				t.Fatalf("jwx refuses the token: %v", err)
			}
			msg, _ := jws.Parse([]byte(got.jwt))
			h := msg.Signatures()[0].ProtectedHeaders()
			if h.Algorithm() != tc.alg || h.KeyID() != "kid-1" || h.Type() != "at+jwt" {
				t.Errorf("header alg %s kid %s typ %s", h.Algorithm(), h.KeyID(), h.Type())
			}
			if tok.Issuer() != "https://issuer.example" || got.expiresIn != 60 {
				t.Errorf("iss %s, expires_in %d", tok.Issuer(), got.expiresIn)
			}
		})
	}
}

// TestBodyLimitWithoutReadingItAll is item 79 for the token endpoint: a
// declared oversize body is refused before any byte is read, a chunked one
// after at most the limit.
func TestBodyLimitWithoutReadingItAll(t *testing.T) {
	tests := []struct {
		name          string
		contentLength int64
		maxRead       int64
	}{
		{"declared too large", 10 << 20, 0},
		{"unknown length", -1, maxBodyBytes + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingReader{limit: 10 << 20}
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", body)
			r.ContentLength = tc.contentLength
			r.Header.Set("Content-Type", contentTypeFormURLEncoded)
			w := httptest.NewRecorder()
			_, err := readForm(w, r)
			if e := asError(err); e.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("err %v, want 413", err)
			}
			if body.read > tc.maxRead {
				t.Errorf("read %d bytes, want at most %d", body.read, tc.maxRead)
			}
		})
	}
}

type countingReader struct {
	read, limit int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.read >= c.limit {
		return 0, io.EOF
	}
	n := min(int64(len(p)), c.limit-c.read)
	for i := range p[:n] {
		p[i] = 'a'
	}
	c.read += n
	return int(n), nil
}

func TestParseForm(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    map[string]string
		wantErr bool
	}{
		{"plain", "a=1&b=2", map[string]string{"a": "1", "b": "2"}, false},
		{"plus and percent", "s=a+b%2Bc%26d%3De", map[string]string{"s": "a b+c&d=e"}, false},
		{"empty pairs skipped", "&&a=1&", map[string]string{"a": "1"}, false},
		{"no value is omitted", "a&b=", map[string]string{"a": "", "b": ""}, false},
		{"repeated", "a=1&a=2", nil, true},
		{"repeated once encoded", "a=1&%61=2", nil, true},
		{"resource may repeat", "resource=x&resource=y", map[string]string{"resource": "x"}, false},
		{"bad escape", "a=%g1", nil, true},
		{"no name", "=1", nil, true},
		{"too many", strings.Repeat("p=1&", 1) + manyParams(maxParams), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseForm(tc.body)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			for k, v := range tc.want {
				if got := f.get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func manyParams(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("q")
		b.WriteString(strings.Repeat("x", i))
		b.WriteString("=1&")
	}
	return b.String()
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uo\te`, "ctl\x00\x01\n\r\t\x1f", "é ü 日本", "bad\xff\xfeutf8", "<&>"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q -> %s: not JSON: %v", s, got, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Errorf("%q round-trips as %q", s, back)
		}
	}
}

func TestVerifiedCacheBound(t *testing.T) {
	c := newVerifiedCache(time.Minute, 64)
	now := time.Now()
	for i := range 1000 {
		c.put(newCacheKey("c", strings.Repeat("s", i)), &client{id: "c"}, now, c.generation())
	}
	if n := c.len(); n > 64 {
		t.Errorf("%d entries, bound 64", n)
	}
	// A verification that raced an invalidation is not cached.
	gen := c.generation()
	c.dropClient("other")
	c.put(newCacheKey("late", "s"), &client{id: "late"}, now, gen)
	if _, ok := c.get(newCacheKey("late", "s"), now); ok {
		t.Error("a stale verification was cached after an invalidation")
	}
}

func TestErrorBodySanitised(t *testing.T) {
	e := &Error{Code: CodeInvalidRequest, Status: 400, Description: "bad \"x\"\\\n\té" + strings.Repeat("y", 500)}
	b := errorBody(e)
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	d := m["error_description"]
	if len(d) > maxErrorDescriptionLen || strings.ContainsAny(d, "\"\\\n\t") || !utf8.ValidString(d) {
		t.Errorf("description %q", d)
	}
}
