package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"google.golang.org/grpc/codes"
)

// The test issuer: real keys generated with the standard library, JWKs
// and tokens built and signed with jwx, a JWKS served over loopback HTTP.

const (
	testIssuer   = "https://issuer.example"
	testAudience = "https://api.example/things"
)

// testKey is a signing key of the test issuer, used with one algorithm.
type testKey struct {
	kid  string
	alg  jwa.SignatureAlgorithm
	priv crypto.Signer
	pub  crypto.PublicKey
}

// testKeySet holds every key the tests use. Keys are generated once per
// test binary (RSA generation is slow) and never modified.
type testKeySet struct {
	es256, eddsa, rs256, ps256 *testKey
	// es256Other is another P-256 key: the "other key under the same kid"
	// and the attacker's key.
	es256Other *testKey
	// rsaOther is an RSA key of another issuer.
	rsaOther *testKey
	// Weak or unsupported keys.
	rsa1024 *testKey
	p384    *testKey
	hmac    []byte
}

var (
	keysOnce   sync.Once
	sharedKeys *testKeySet
)

func theKeys(t testing.TB) *testKeySet {
	t.Helper()
	keysOnce.Do(func() {
		ks := &testKeySet{}
		ks.es256 = newECKey(t, "es256-1", jwa.ES256, elliptic.P256())
		ks.es256Other = newECKey(t, "es256-attacker", jwa.ES256, elliptic.P256())
		ks.p384 = newECKey(t, "p384-as-es256", jwa.ES256, elliptic.P384())
		ks.eddsa = newEdKey(t, "eddsa-1")
		ks.rs256 = newRSAKey(t, "rs256-1", jwa.RS256, 2048)
		ks.ps256 = newRSAKey(t, "ps256-1", jwa.PS256, 2048)
		ks.rsaOther = newRSAKey(t, "other-issuer-1", jwa.RS256, 2048)
		ks.rsa1024 = newRSAKey(t, "rsa1024", jwa.RS256, 1024)
		ks.hmac = []byte("0123456789abcdef0123456789abcdef")
		sharedKeys = ks
	})
	if sharedKeys == nil {
		t.Fatal("test keys not generated")
	}
	return sharedKeys
}

func newECKey(t testing.TB, kid string, alg jwa.SignatureAlgorithm, curve elliptic.Curve) *testKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, alg: alg, priv: priv, pub: &priv.PublicKey}
}

func newEdKey(t testing.TB, kid string) *testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, alg: jwa.EdDSA, priv: priv, pub: pub}
}

func newRSAKey(t testing.TB, kid string, alg jwa.SignatureAlgorithm, bits int) *testKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, alg: alg, priv: priv, pub: &priv.PublicKey}
}

// withKID returns the key under another kid (same material, same alg).
func (k *testKey) withKID(kid string) *testKey {
	c := *k
	c.kid = kid
	return &c
}

// withAlg returns the key used with another algorithm.
func (k *testKey) withAlg(alg jwa.SignatureAlgorithm) *testKey {
	c := *k
	c.alg = alg
	return &c
}

// jwkOf returns the public JWK of k as a map, with kid, alg and use:sig.
func jwkOf(t testing.TB, k *testKey) map[string]any {
	t.Helper()
	return jwkRaw(t, k.pub, map[string]any{"kid": k.kid, "alg": k.alg.String(), "use": "sig"})
}

// jwkRaw returns the JWK of a raw key with the given members set (a nil
// value removes the member).
func jwkRaw(t testing.TB, raw any, members map[string]any) map[string]any {
	t.Helper()
	key, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(key)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for name, v := range members {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return m
}

func jwksDoc(t testing.TB, keys ...map[string]any) []byte {
	t.Helper()
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwksServer serves a JWKS on loopback and counts the requests.
type jwksServer struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu   sync.Mutex
	body []byte
	// fail makes the next responses fail: "500", "hang", "huge",
	// "huge-chunked", "badjson", "redirect".
	fail string
	// gate, when set, holds every response until it is closed; entered
	// gets a value when a request arrives.
	gate    chan struct{}
	entered chan struct{}
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) URL() string { return s.srv.URL + "/jwks.json" }

func (s *jwksServer) Hits() int { return int(s.hits.Load()) }

func (s *jwksServer) set(body []byte) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func (s *jwksServer) setFail(mode string) {
	s.mu.Lock()
	s.fail = mode
	s.mu.Unlock()
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	body, fail, gate, entered := s.body, s.fail, s.gate, s.entered
	s.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	switch fail {
	case "500":
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	case "hang":
		<-r.Context().Done()
		return
	case "huge":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2000000")
		_, _ = w.Write([]byte(`{"keys":[`))
		return
	case "huge-chunked":
		// No Content-Length: a valid JWKS padded past 1 MiB.
		w.Header().Set("Content-Type", "application/json")
		pad := strings.Repeat(" ", MaxJWKSBytes)
		_, _ = w.Write([]byte(pad))
		_, _ = w.Write(body)
		return
	case "badjson":
		_, _ = w.Write([]byte(`{"keys":[{"kty":`))
		return
	case "redirect":
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(body)
}

// countingServer is an "attacker" server: it counts connections and
// requests. A token must never make the validator connect to it.
type countingServer struct {
	srv   *httptest.Server
	conns atomic.Int64
	reqs  atomic.Int64
}

func newCountingServer(t testing.TB) *countingServer {
	t.Helper()
	c := &countingServer{}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.reqs.Add(1)
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	c.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.srv.Start()
	t.Cleanup(c.srv.Close)
	return c
}

// claimSet is a token's claims; mint marshals it.
type claimSet map[string]any

// validClaims are the claims of a valid token at now.
func validClaims(now time.Time) claimSet {
	return claimSet{
		"iss":       testIssuer,
		"sub":       "user-42",
		"aud":       testAudience,
		"client_id": "client-1",
		"scope":     "things:read things:write",
		"jti":       "jti-1",
		"iat":       now.Unix(),
		"exp":       now.Add(5 * time.Minute).Unix(),
	}
}

// with returns a copy of c with the given members set (nil removes one).
func (c claimSet) with(kv ...any) claimSet {
	out := claimSet{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		name, _ := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, name)
		} else {
			out[name] = kv[i+1]
		}
	}
	return out
}

// mint signs claims with k via jws.Sign; the protected header is
// typ at+jwt, kid k.kid and alg k.alg, with hdr's members set on top (a
// nil value removes one).
func mint(t testing.TB, k *testKey, c claimSet, hdr ...any) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	members := map[string]any{jws.TypeKey: "at+jwt", jws.KeyIDKey: k.kid}
	for i := 0; i+1 < len(hdr); i += 2 {
		name, _ := hdr[i].(string)
		members[name] = hdr[i+1]
	}
	h := jws.NewHeaders()
	for name, v := range members {
		if v == nil {
			continue
		}
		if err := h.Set(name, v); err != nil {
			t.Fatalf("header %s: %v", name, err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(k.alg, k.priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// mintRaw builds a compact JWS from exact header and payload bytes, signed
// with alg and key by jwx's signer (alg "none": an empty signature).
func mintRaw(t testing.TB, alg jwa.SignatureAlgorithm, key any, header, payload string) string {
	t.Helper()
	input := b64url(header) + "." + b64url(payload)
	if strings.EqualFold(alg.String(), "none") {
		return input + "."
	}
	signer, err := jws.NewSigner(alg)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign([]byte(input), key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64url(string(sig))
}

// headerJSON is the JSON of a header with typ at+jwt, alg and kid of k,
// plus extra members (a nil value removes one).
func headerJSON(t testing.TB, k *testKey, extra ...any) string {
	t.Helper()
	m := map[string]any{"typ": "at+jwt", "alg": k.alg.String(), "kid": k.kid}
	for i := 0; i+1 < len(extra); i += 2 {
		name, _ := extra[i].(string)
		if extra[i+1] == nil {
			delete(m, name)
		} else {
			m[name] = extra[i+1]
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func claimsJSON(t testing.TB, c claimSet) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// jwtEnv is a JWKS server with the standard keys, a fake clock and an
// authenticator fetching from the server.
type jwtEnv struct {
	keys  *testKeySet
	clock *fakeClock
	jwks  *jwksServer
	auth  *JWTAuthenticator
}

// standardJWKS publishes the four good keys and the weak ones, which must
// be ignored.
func standardJWKS(t testing.TB, ks *testKeySet) []byte {
	t.Helper()
	return jwksDoc(t,
		jwkOf(t, ks.es256), jwkOf(t, ks.eddsa), jwkOf(t, ks.rs256), jwkOf(t, ks.ps256),
		jwkOf(t, ks.rsa1024), jwkOf(t, ks.p384),
		map[string]any{"kty": "oct", "kid": "oct-1", "alg": "HS256", "use": "sig", "k": base64.RawURLEncoding.EncodeToString(ks.hmac)},
	)
}

func newJWTEnv(t testing.TB, opts ...JWTOption) *jwtEnv {
	t.Helper()
	ks := theKeys(t)
	env := &jwtEnv{keys: ks, clock: newFakeClock()}
	env.jwks = newJWKSServer(t, standardJWKS(t, ks))
	env.auth = newTestJWTAuth(t, NewHTTPJWKSSource(env.jwks.URL()), env.clock, opts...)
	return env
}

func newTestJWTAuth(t testing.TB, src JWKSSource, clk *fakeClock, opts ...JWTOption) *JWTAuthenticator {
	t.Helper()
	all := append([]JWTOption{
		WithIssuer(testIssuer),
		WithAudience(testAudience),
		WithClock(clk.Now),
		WithJWTLogger(discardLogger()),
	}, opts...)
	a := NewJWTAuthenticator(src, all...)
	if err := a.ConfigError(); err != nil {
		t.Fatal(err)
	}
	return a
}

// now is the env's current time.
func (e *jwtEnv) now() time.Time { return e.clock.Now() }

// valid is a valid ES256 token at the env's current time.
func (e *jwtEnv) valid(t testing.TB) string {
	t.Helper()
	return mint(t, e.keys.es256, validClaims(e.now()))
}

// warm makes the authenticator fetch the JWKS once, with a valid token.
func (e *jwtEnv) warm(t testing.TB) {
	t.Helper()
	if _, err := e.auth.Authenticate(context.Background(), e.valid(t)); err != nil {
		t.Fatalf("warm-up token refused: %v", err)
	}
}

// wantRefusal checks that err is an invalid_token refusal with reason and
// a description that does not echo the token.
func wantRefusal(t testing.TB, err error, reason audit.Reason, token string) {
	t.Helper()
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want *AuthError", err, err)
	}
	if ae.Code != codes.Unauthenticated || ae.OAuthError != ErrInvalidToken {
		t.Fatalf("refusal %v / %q, want Unauthenticated / invalid_token", ae.Code, ae.OAuthError)
	}
	if reason != "" && ae.Reason != reason {
		t.Fatalf("audit reason %q, want %q (%s)", ae.Reason, reason, ae.Message)
	}
	if !ae.Reason.Valid() {
		t.Fatalf("audit reason %q is not enumerated", ae.Reason)
	}
	checkSafeDescription(t, ae.Message, token)
}

// checkSafeDescription checks an RFC 6750 error_description: only the
// allowed characters, and no part of the token.
func checkSafeDescription(t testing.TB, desc, token string) {
	t.Helper()
	if sanitizeQuoted(desc) != desc {
		t.Errorf("description %q has characters RFC 6750 forbids", desc)
	}
	checkNoEcho(t, desc, token)
}

// checkNoEcho checks that s holds no segment of token.
func checkNoEcho(t testing.TB, s, token string) {
	t.Helper()
	for _, seg := range strings.Split(token, ".") {
		if len(seg) >= 8 && strings.Contains(s, seg) {
			t.Errorf("%q echoes the token", s)
		}
	}
}
