package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// holder is a client's DPoP key: it builds proofs by hand, so that tests
// can produce every malformed one.
type holder struct {
	priv any
	alg  string
	jwk  map[string]any // public JWK members
}

func newES256(t testing.TB) *holder {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &holder{priv: k, alg: "ES256", jwk: publicMembers(t, &k.PublicKey)}
}

func newEd25519(t testing.TB) *holder {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &holder{priv: priv, alg: "EdDSA", jwk: publicMembers(t, pub)}
}

func newRS256(t testing.TB) *holder {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &holder{priv: k, alg: "RS256", jwk: publicMembers(t, &k.PublicKey)}
}

func publicMembers(t testing.TB, pub any) map[string]any {
	t.Helper()
	k, err := jwk.FromRaw(pub)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// jkt is the holder's RFC 7638 thumbprint.
func (h *holder) jkt(t testing.TB) string {
	t.Helper()
	b, _ := json.Marshal(h.jwk)
	k, err := jwk.ParseKey(b)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// proof signs header and claims (the defaults changed by the maps;
// a nil value deletes the member) with the holder's key.
func (h *holder) proof(t testing.TB, hdr, cl map[string]any) string {
	t.Helper()
	header := map[string]any{"typ": "dpop+jwt", "alg": h.alg, "jwk": h.jwk}
	for k, v := range hdr {
		if v == nil {
			delete(header, k)
		} else {
			header[k] = v
		}
	}
	in := seg(t, header) + "." + seg(t, cl)
	return in + "." + base64.RawURLEncoding.EncodeToString(h.sign(t, header["alg"], []byte(in)))
}

func (h *holder) sign(t testing.TB, alg any, in []byte) []byte {
	t.Helper()
	switch k := h.priv.(type) {
	case *ecdsa.PrivateKey:
		d := sha256.Sum256(in)
		r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	case ed25519.PrivateKey:
		return ed25519.Sign(k, in)
	case *rsa.PrivateKey:
		d := sha256.Sum256(in)
		sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case []byte: // HS256
		m := hmac.New(sha256.New, k)
		m.Write(in)
		return m.Sum(nil)
	}
	t.Fatalf("no signer for %T", h.priv)
	return nil
}

func seg(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
