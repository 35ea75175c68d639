package benchbare

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// The yardstick is only a fair one if it refuses what a validator must
// refuse: each case is checked on both routes.
func TestYardstickValidates(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, "k1")
	_ = key.Set(jwk.AlgorithmKey, jwa.ES256)
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	h, err := Handler(Config{Issuer: "https://issuer.test", Audience: "api", JWKS: set, ClientID: "c1", ClientSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(iss, aud string, exp time.Duration) string {
		tok, err := jwt.NewBuilder().Issuer(iss).Audience([]string{aud}).Expiration(time.Now().Add(exp)).Build()
		if err != nil {
			t.Fatal(err)
		}
		b, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, key))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cases := []struct {
		name, auth string
		want       int
	}{
		{"valid", "Bearer " + sign("https://issuer.test", "api", time.Minute), http.StatusOK},
		{"no credential", "", http.StatusUnauthorized},
		{"other issuer", "Bearer " + sign("https://other.test", "api", time.Minute), http.StatusUnauthorized},
		{"other audience", "Bearer " + sign("https://issuer.test", "other", time.Minute), http.StatusUnauthorized},
		{"expired", "Bearer " + sign("https://issuer.test", "api", -time.Minute), http.StatusUnauthorized},
		{"garbage", "Bearer abc.def.ghi", http.StatusUnauthorized},
	}
	for _, route := range []string{"/cached", "/uncached"} {
		for _, c := range cases {
			for range 2 { // the second time from the cache, if any
				req := httptest.NewRequest(http.MethodGet, route, nil)
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != c.want {
					t.Errorf("%s %s: %d, want %d", route, c.name, w.Code, c.want)
				}
			}
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/allow", nil))
	if w.Code != http.StatusOK {
		t.Errorf("/allow: %d", w.Code)
	}
	for secret, want := range map[string]int{"s3cret": http.StatusOK, "wrong": http.StatusUnauthorized} {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("c1", secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("/token with secret %q: %d, want %d: %s", secret, w.Code, want, w.Body)
		}
	}
}
