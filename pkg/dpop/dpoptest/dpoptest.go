// Package dpoptest makes DPoP proofs (RFC 9449 §4) for tests: a client's
// key pair, and proofs it signs for a request. The verifier under test is
// pkg/dpop's; nothing here checks anything.
package dpoptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Key is a client's DPoP key pair (ES256) and the RFC 7638 thumbprint of
// its public key, the jkt a bound token carries.
type Key struct {
	Private, Public jwk.Key
	JKT             string
}

// NewKey makes a P-256 key pair.
func NewKey(t testing.TB) *Key {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Private: priv, Public: pub, JKT: jkt}
}

// Proof is a proof for a request with method htm to htu, issued now, with
// the server's nonce and the access token's hash (ath) when not empty.
func (k *Key) Proof(t testing.TB, htm, htu, nonce, accessToken string) string {
	t.Helper()
	return k.ProofAt(t, time.Now(), htm, htu, nonce, accessToken)
}

// ProofAt is Proof issued at iat.
func (k *Key) ProofAt(t testing.TB, iat time.Time, htm, htu, nonce, accessToken string) string {
	t.Helper()
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		t.Fatal(err)
	}
	c := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti[:]), "htm": htm, "htu": htu, "iat": iat.Unix()}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if accessToken != "" {
		c["ath"] = dpop.AccessTokenHash(accessToken)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set("typ", dpop.ProofType); err != nil {
		t.Fatal(err)
	}
	if err := hdr.Set("jwk", k.Public); err != nil {
		t.Fatal(err)
	}
	b, err := jws.Sign(payload, jws.WithKey(jwa.ES256, k.Private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
