package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/gatehouse-dev/gatehouse/internal/kek"
)

// ErrUnsupportedAlgorithm means an algorithm other than ES256, EdDSA, RS256
// and PS256 was asked for.
var ErrUnsupportedAlgorithm = errors.New("unsupported algorithm: want ES256, EdDSA, RS256 or PS256")

// ErrWrongKEK means a private key did not decrypt. Nearly always the process
// was given another KEK than the one that sealed the keys.
var ErrWrongKEK = errors.New("signing keys cannot be decrypted with this KEK (wrong --kek-file or GATEHOUSE_KEK?)")

// ParseAlgorithm returns the JWS algorithm named s, one of those a signing
// key may have. Names are case-sensitive, as in JOSE.
func ParseAlgorithm(s string) (jwa.SignatureAlgorithm, error) {
	switch s {
	case "ES256":
		return jwa.ES256, nil
	case "EdDSA":
		return jwa.EdDSA, nil
	case "RS256":
		return jwa.RS256, nil
	case "PS256":
		return jwa.PS256, nil
	}
	return "", ErrUnsupportedAlgorithm
}

// generated is a new key: its stored form and the private JWK, which the
// Manager keeps so that it need not decrypt what it has just sealed.
type generated struct {
	key  Key
	priv jwk.Key
}

func generate(alg jwa.SignatureAlgorithm, rsaBits int, k *kek.KEK, now time.Time) (*generated, error) {
	var raw crypto.Signer
	var err error
	switch alg {
	case jwa.ES256:
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwa.EdDSA:
		_, raw, err = ed25519.GenerateKey(rand.Reader)
	case jwa.RS256, jwa.PS256:
		raw, err = rsa.GenerateKey(rand.Reader, rsaBits)
	default:
		return nil, ErrUnsupportedAlgorithm
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	priv, err := privateJWK(raw, alg)
	if err != nil {
		return nil, err
	}
	pub, err := publicJWK(priv)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("encode %s key: %w", alg, err)
	}
	defer clear(der)
	sealed, err := k.Seal(der, []byte(priv.KeyID()))
	if err != nil {
		return nil, fmt.Errorf("seal %s key: %w", alg, err)
	}
	return &generated{
		key: Key{
			KID:        priv.KeyID(),
			Alg:        alg.String(),
			PublicJWK:  pub,
			PrivateKey: sealed,
			CreatedAt:  now,
		},
		priv: priv,
	}, nil
}

// privateJWK wraps a raw private key as a JWK with kid, alg and use set, so
// that jws.Sign puts the kid in the header and the key carries its one
// algorithm (RFC 8725 §3.1).
func privateJWK(raw any, alg jwa.SignatureAlgorithm) (jwk.Key, error) {
	if err := checkKeyType(raw, alg); err != nil {
		return nil, err
	}
	priv, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, fmt.Errorf("%s key as JWK: %w", alg, err)
	}
	kid, err := Thumbprint(priv)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{
		jwk.KeyIDKey:     kid,
		jwk.AlgorithmKey: alg,
		jwk.KeyUsageKey:  jwk.ForSignature,
	} {
		if err := priv.Set(name, v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	return priv, nil
}

// checkKeyType makes sure a key is what its algorithm needs, so a
// tampered or mixed-up row cannot make, say, an RSA key sign as ES256.
func checkKeyType(raw any, alg jwa.SignatureAlgorithm) error {
	ok := false
	switch k := raw.(type) {
	case *ecdsa.PrivateKey:
		ok = alg == jwa.ES256 && k.Curve == elliptic.P256()
	case ed25519.PrivateKey:
		ok = alg == jwa.EdDSA
	case *rsa.PrivateKey:
		ok = (alg == jwa.RS256 || alg == jwa.PS256) && k.N.BitLen() >= 2048
	}
	if !ok {
		return fmt.Errorf("a %T is not a %s key", raw, alg)
	}
	return nil
}

// publicJWK returns the JSON of the public half of priv, with priv's kid,
// alg and use.
func publicJWK(priv jwk.Key) ([]byte, error) {
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	b, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return b, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of k, base64url
// without padding: the kid of a signing key.
func Thumbprint(k jwk.Key) (string, error) {
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// openKey decrypts a stored key and checks that it is the key its row
// says: the thumbprint must equal the kid and the type must fit the alg.
func openKey(k Key, kk *kek.KEK) (jwk.Key, error) {
	if len(k.PrivateKey) == 0 {
		return nil, fmt.Errorf("key %s has no private key", k.KID)
	}
	der, err := kk.Open(k.PrivateKey, []byte(k.KID))
	if err != nil {
		if errors.Is(err, kek.ErrDecrypt) {
			return nil, fmt.Errorf("%w (kid %s)", ErrWrongKEK, k.KID)
		}
		return nil, err
	}
	defer clear(der)
	alg, err := ParseAlgorithm(k.Alg)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.KID, err)
	}
	raw, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		// Never wrap the parser's error: it may quote the bytes.
		return nil, fmt.Errorf("key %s: private key is not valid PKCS #8", k.KID)
	}
	priv, err := privateJWK(raw, alg)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.KID, err)
	}
	if priv.KeyID() != k.KID {
		return nil, fmt.Errorf("key %s: private key has thumbprint %s", k.KID, priv.KeyID())
	}
	return priv, nil
}

// publicKey parses a stored public JWK for the JWKS. Whatever the row
// holds, only the public half comes out, with the row's kid and alg: the
// JWKS cannot leak a private member even from a corrupt row.
func publicKey(k Key) (jwk.Key, error) {
	parsed, err := jwk.ParseKey(k.PublicJWK)
	if err != nil {
		return nil, fmt.Errorf("key %s: public JWK: %w", k.KID, err)
	}
	pub, err := jwk.PublicKeyOf(parsed)
	if err != nil {
		return nil, fmt.Errorf("key %s: public JWK: %w", k.KID, err)
	}
	kid, err := Thumbprint(pub)
	if err != nil {
		return nil, err
	}
	if kid != k.KID {
		return nil, fmt.Errorf("key %s: public JWK has thumbprint %s", k.KID, kid)
	}
	alg, err := ParseAlgorithm(k.Alg)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.KID, err)
	}
	// Rebuilt from the raw key, so only the key material and the members
	// set below are published: a stray x5c, key_ops or unknown member of a
	// corrupt row is not.
	var raw any
	if err := pub.Raw(&raw); err != nil {
		return nil, fmt.Errorf("key %s: public JWK: %w", k.KID, err)
	}
	clean, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, fmt.Errorf("key %s: public JWK: %w", k.KID, err)
	}
	for name, v := range map[string]any{
		jwk.KeyIDKey:     k.KID,
		jwk.AlgorithmKey: alg,
		jwk.KeyUsageKey:  jwk.ForSignature,
	} {
		if err := clean.Set(name, v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	return clean, nil
}
