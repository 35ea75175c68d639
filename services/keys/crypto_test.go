package keys_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

var algorithms = []struct {
	alg     string
	kty     string
	members []string // RFC 7638 §3.2 required members, in order
}{
	{"ES256", "EC", []string{"crv", "kty", "x", "y"}},
	{"EdDSA", "OKP", []string{"crv", "kty", "x"}},
	{"RS256", "RSA", []string{"e", "kty", "n"}},
	{"PS256", "RSA", []string{"e", "kty", "n"}},
}

// privateMembers are the JWK members that hold private key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"}

// TestAlgorithms checks, for every algorithm, that SigningKey signs what
// the published JWKS verifies, that the kid is the RFC 7638 thumbprint
// computed here independently of jwx, and that the published key carries
// its one alg and use "sig" and nothing private.
func TestAlgorithms(t *testing.T) {
	for _, tt := range algorithms {
		t.Run(tt.alg, func(t *testing.T) {
			stores, _ := openSQLite(t, 1)
			m := newManager(t, stores[0], newKEK(t), testOptions(newClock(), keys.WithAlgorithm(tt.alg))...)
			start(t, m)
			ak, err := m.SigningKey(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if ak.Alg.String() != tt.alg || ak.Key.Algorithm().String() != tt.alg || ak.Key.KeyID() != ak.KID {
				t.Fatalf("ActiveKey alg %s, key alg %s kid %s; want %s and kid %s", ak.Alg, ak.Key.Algorithm(), ak.Key.KeyID(), tt.alg, ak.KID)
			}
			if isPriv, err := jwk.IsPrivateKey(ak.Key); err != nil || !isPriv {
				t.Fatalf("SigningKey is not a private key (%v)", err)
			}

			payload := []byte(`{"sub":"alice"}`)
			signed, err := jws.Sign(payload, jws.WithKey(ak.Alg, ak.Key))
			if err != nil {
				t.Fatal(err)
			}
			msg, err := jws.Parse(signed)
			if err != nil {
				t.Fatal(err)
			}
			if h := msg.Signatures()[0].ProtectedHeaders(); h.KeyID() != ak.KID || h.Algorithm() != ak.Alg {
				t.Errorf("header kid %q alg %q, want %q %q", h.KeyID(), h.Algorithm(), ak.KID, ak.Alg)
			}

			body, _, _ := m.JWKS()
			var doc struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Keys) != 1 {
				t.Fatalf("JWKS has %d keys, want 1", len(doc.Keys))
			}
			pub := doc.Keys[0]
			for _, p := range privateMembers {
				if _, ok := pub[p]; ok {
					t.Errorf("JWKS key has private member %q", p)
				}
			}
			if pub["kid"] != ak.KID || pub["alg"] != tt.alg || pub["use"] != "sig" || pub["kty"] != tt.kty {
				t.Errorf("JWKS key kid %v alg %v use %v kty %v; want %s %s sig %s", pub["kid"], pub["alg"], pub["use"], pub["kty"], ak.KID, tt.alg, tt.kty)
			}
			if want := rfc7638(t, pub, tt.members); ak.KID != want {
				t.Errorf("kid %s, want the RFC 7638 thumbprint %s", ak.KID, want)
			}

			set, err := jwk.Parse(body)
			if err != nil {
				t.Fatal(err)
			}
			key, ok := set.LookupKeyID(ak.KID)
			if !ok {
				t.Fatal("kid not in JWKS")
			}
			got, err := jws.Verify(signed, jws.WithKey(ak.Alg, key))
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("verify with the published key: %v", err)
			}
			// The one-algorithm rule: the key's alg, and no other,
			// verifies.
			other := jwa.RS256
			if ak.Alg == jwa.RS256 {
				other = jwa.PS256
			}
			if _, err := jws.Verify(signed, jws.WithKey(other, key)); err == nil {
				t.Errorf("signature verified as %s too", other)
			}

			// GetSigningKey hands the same key to a token service in
			// another process.
			resp, err := keys.NewServer(m).GetSigningKey(t.Context(), &keysv1.GetSigningKeyRequest{})
			if err != nil {
				t.Fatal(err)
			}
			remote, err := jwk.ParseKey(resp.GetPrivateJwk())
			if err != nil {
				t.Fatal(err)
			}
			if remote.KeyID() != ak.KID || remote.Algorithm() != ak.Alg || resp.GetKey().GetKid() != ak.KID {
				t.Errorf("GetSigningKey kid %s alg %s, want %s %s", remote.KeyID(), remote.Algorithm(), ak.KID, ak.Alg)
			}
			signed2, err := jws.Sign(payload, jws.WithKey(ak.Alg, remote))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jws.Verify(signed2, jws.WithKey(ak.Alg, key)); err != nil {
				t.Errorf("a signature by the GetSigningKey key does not verify: %v", err)
			}
		})
	}
}

// rfc7638 computes the thumbprint from the required members only, in
// lexicographic order, without whitespace (RFC 7638 §3.2, §3.3).
func rfc7638(t *testing.T, pub map[string]any, members []string) string {
	t.Helper()
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range members {
		v, ok := pub[name].(string)
		if !ok {
			t.Fatalf("member %q missing", name)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%q", name, v)
	}
	b.WriteByte('}')
	sum := sha256.Sum256([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestNoPlaintextPrivateKeyInDatabase dumps everything each backend holds
// and looks for the private scalars (EC d, Ed25519 seed, RSA d, p, q) and
// the PKCS #8 encoding, raw and in hex and base64.
func TestNoPlaintextPrivateKeyInDatabase(t *testing.T) {
	for _, b := range backends {
		for _, a := range algorithms {
			t.Run(b.name+"/"+a.alg, func(t *testing.T) {
				stores, dump := b.open(t, 1)
				clock := newClock()
				m := newManager(t, stores[0], newKEK(t), testOptions(clock, keys.WithAlgorithm(a.alg))...)
				start(t, m)
				// A pending key too, so two keys are stored.
				if _, err := m.Rotate(t.Context(), ""); err != nil {
					t.Fatal(err)
				}
				ak, err := m.SigningKey(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				secrets := privateBytes(t, ak.Key)
				d := dump()
				if !bytes.Contains(d, []byte(ak.KID)) {
					t.Fatal("the dump does not even hold the kid: it is not dumping the table")
				}
				for name, s := range secrets {
					for _, enc := range encodings(s) {
						if bytes.Contains(d, enc) {
							t.Errorf("the database holds %s in clear (%d bytes)", name, len(enc))
						}
					}
				}
			})
		}
	}
}

func privateBytes(t *testing.T, k jwk.Key) map[string][]byte {
	t.Helper()
	var raw any
	if err := k.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	der, err := x509.MarshalPKCS8PrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	out["PKCS #8"] = der
	switch p := raw.(type) {
	case *ecdsa.PrivateKey:
		d, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out["d"] = d
	case ed25519.PrivateKey:
		out["seed"] = p.Seed()
	case *rsa.PrivateKey:
		out["d"] = p.D.Bytes()
		out["p"] = p.Primes[0].Bytes()
		out["q"] = p.Primes[1].Bytes()
	default:
		t.Fatalf("unexpected key type %T", raw)
	}
	return out
}

func encodings(b []byte) [][]byte {
	return [][]byte{
		b,
		[]byte(hex.EncodeToString(b)),
		[]byte(strings.ToUpper(hex.EncodeToString(b))),
		[]byte(base64.StdEncoding.EncodeToString(b)),
		[]byte(base64.RawURLEncoding.EncodeToString(b)),
	}
}

// TestWrongKEK: a process given another KEK than the one that sealed the
// keys must refuse to start, and say why.
func TestWrongKEK(t *testing.T) {
	const wantMsg = "signing keys cannot be decrypted with this KEK (wrong --kek-file or GATEHOUSE_KEK?)"
	tests := []struct {
		name     string
		pending  bool // a pending key sealed with the first KEK exists too
		otherKEK bool // the second Manager gets another KEK
		swap     bool // the two rows' ciphertexts are exchanged
	}{
		{name: "another KEK", otherKEK: true},
		{name: "another KEK with a pending key", pending: true, otherKEK: true},
		{name: "same KEK, ciphertexts swapped between rows", pending: true, swap: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stores, _ := openSQLite(t, 1)
			s := stores[0]
			clock := newClock()
			good := newKEK(t)
			first := newManager(t, s, good, testOptions(clock)...)
			start(t, first)
			if tt.pending {
				if _, err := first.Rotate(t.Context(), ""); err != nil {
					t.Fatal(err)
				}
			}
			first.Close()
			if tt.swap {
				_, err := s.Update(t.Context(), func(cur []keys.Key) (keys.Changes, error) {
					a, b := cur[0], cur[1]
					a.PrivateKey, b.PrivateKey = b.PrivateKey, a.PrivateKey
					return keys.Changes{Update: []keys.Key{a, b}}, nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			kk := good
			if tt.otherKEK {
				kk = newKEK(t)
			}
			m, err := keys.New(s, kk, testOptions(clock)...)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			err = m.Start(t.Context())
			if !errors.Is(err, keys.ErrWrongKEK) || !strings.Contains(err.Error(), wantMsg) {
				t.Fatalf("Start = %v, want an error saying %q", err, wantMsg)
			}
			t.Log(err)
			if _, err := m.SigningKey(t.Context()); !errors.Is(err, keys.ErrNotStarted) {
				t.Errorf("SigningKey after a failed start = %v, want ErrNotStarted", err)
			}
		})
	}
}
