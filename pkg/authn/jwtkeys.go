package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// algSpec is what a signature algorithm needs of its key.
type algSpec struct {
	kty   jwa.KeyType
	hash  crypto.Hash    // zero for EdDSA, which hashes internally
	curve elliptic.Curve // for ECDSA
	pss   bool           // RSASSA-PSS rather than PKCS #1 v1.5
}

// supportedAlgs are the JWS algorithms (RFC 7518 §3.1, RFC 8037 §3.1) the
// authenticator can verify. none and the HMAC algorithms are not among
// them: a validator holds only public keys, so it never accepts them
// (RFC 8725 §3.1, §3.2; SECURITY-CHECKLIST items 1–3).
var supportedAlgs = map[jwa.SignatureAlgorithm]algSpec{
	jwa.ES256: {kty: jwa.EC, hash: crypto.SHA256, curve: elliptic.P256()},
	jwa.ES384: {kty: jwa.EC, hash: crypto.SHA384, curve: elliptic.P384()},
	jwa.ES512: {kty: jwa.EC, hash: crypto.SHA512, curve: elliptic.P521()},
	jwa.EdDSA: {kty: jwa.OKP},
	jwa.RS256: {kty: jwa.RSA, hash: crypto.SHA256},
	jwa.RS384: {kty: jwa.RSA, hash: crypto.SHA384},
	jwa.RS512: {kty: jwa.RSA, hash: crypto.SHA512},
	jwa.PS256: {kty: jwa.RSA, hash: crypto.SHA256, pss: true},
	jwa.PS384: {kty: jwa.RSA, hash: crypto.SHA384, pss: true},
	jwa.PS512: {kty: jwa.RSA, hash: crypto.SHA512, pss: true},
}

// MinRSAKeyBits is the smallest RSA modulus accepted in a JWKS (FAPI 2.0
// SP §5.4; RFC 8725 §3.5). Smaller keys are ignored.
const MinRSAKeyBits = 2048

// maxKIDLen bounds a kid, in the JWKS and in a token header.
const maxKIDLen = 256

// sigKey is one usable verification key, bound to exactly one algorithm:
// its JWK alg (RFC 8725 §3.1).
type sigKey struct {
	kid string
	alg jwa.SignatureAlgorithm
	// thumbprint is the RFC 7638 SHA-256 thumbprint, to tell whether the
	// key set changed.
	thumbprint string
	verify     func(signingInput, sig []byte) bool
}

// keySet is an immutable parsed JWKS.
type keySet struct {
	keys map[string]*sigKey
	// fingerprint identifies the set: kids, algorithms and key material.
	fingerprint string
}

func newKeySet(keys map[string]*sigKey) *keySet {
	kids := make([]string, 0, len(keys))
	for kid := range keys {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	var b strings.Builder
	for _, kid := range kids {
		k := keys[kid]
		b.WriteString(kid)
		b.WriteByte(0)
		b.WriteString(k.alg.String())
		b.WriteByte(0)
		b.WriteString(k.thumbprint)
		b.WriteByte(0)
	}
	return &keySet{keys: keys, fingerprint: b.String()}
}

// without returns the set minus kid, or nil when kid is not in it.
func (s *keySet) without(kid string) *keySet {
	if _, ok := s.keys[kid]; !ok {
		return nil
	}
	keys := make(map[string]*sigKey, len(s.keys))
	for k, v := range s.keys {
		if k != kid {
			keys[k] = v
		}
	}
	return newKeySet(keys)
}

// ignoredKey is a JWKS member that is not used, and why.
type ignoredKey struct {
	index  int
	kid    string
	reason string
}

var errNoUsableKey = errors.New("JWKS holds no usable key")

// parseKeySet parses a JWKS and keeps the keys that are strong and
// supported, usable for signatures with an allowed algorithm:
//
//   - a kid (unique in the set: keys sharing a kid are all ignored), a use
//     of "sig" (and key_ops, if present, including "verify"), and an alg
//     from allowed, the one algorithm the key is used with;
//   - a public key of the alg's type: RSA of at least 2048 bits, EC on the
//     alg's curve (P-256 for ES256), Ed25519 for EdDSA. Symmetric (oct)
//     keys, other curves and keys with private members are ignored.
//
// A document that is not a JWKS, or has no usable key, is an error.
func parseKeySet(raw []byte, allowed map[jwa.SignatureAlgorithm]bool) (*keySet, []ignoredKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil, fmt.Errorf("parse JWKS: %w", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New("parse JWKS: no keys member")
	}
	var ignored []ignoredKey
	keys := make(map[string]*sigKey, len(doc.Keys))
	dups := map[string]bool{}
	for i, member := range doc.Keys {
		k, kid, reason := parseJWK(member, allowed)
		if reason != "" {
			ignored = append(ignored, ignoredKey{index: i, kid: kid, reason: reason})
			continue
		}
		if _, dup := keys[kid]; dup || dups[kid] {
			dups[kid] = true
			ignored = append(ignored, ignoredKey{index: i, kid: kid, reason: "duplicate kid"})
			continue
		}
		keys[kid] = k
	}
	for kid := range dups {
		delete(keys, kid)
	}
	if len(keys) == 0 {
		return nil, ignored, errNoUsableKey
	}
	return newKeySet(keys), ignored, nil
}

// parseJWK returns the usable key of one JWKS member, or why it is ignored.
func parseJWK(member json.RawMessage, allowed map[jwa.SignatureAlgorithm]bool) (*sigKey, string, string) {
	k, err := jwk.ParseKey(member)
	if err != nil {
		return nil, "", "unparsable key"
	}
	kid := k.KeyID()
	switch {
	case kid == "":
		return nil, "", "no kid"
	case !validKID(kid):
		return nil, "", "invalid kid"
	case k.KeyUsage() != string(jwk.ForSignature):
		return nil, kid, `use is not "sig"`
	case len(k.KeyOps()) > 0 && !slices.Contains(k.KeyOps(), jwk.KeyOpVerify):
		return nil, kid, `key_ops without "verify"`
	}
	if k.Algorithm() == nil || k.Algorithm().String() == "" {
		return nil, kid, "no alg"
	}
	alg := jwa.SignatureAlgorithm(k.Algorithm().String())
	spec, ok := supportedAlgs[alg]
	if !ok {
		return nil, kid, "unsupported alg"
	}
	if !allowed[alg] {
		return nil, kid, "alg not allowed"
	}
	if k.KeyType() != spec.kty {
		return nil, kid, "key type does not match alg"
	}
	var rawKey any
	if err := k.Raw(&rawKey); err != nil {
		return nil, kid, "unusable key material"
	}
	verify, reason := newVerifyFunc(spec, rawKey)
	if reason != "" {
		return nil, kid, reason
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, kid, "no thumbprint"
	}
	return &sigKey{kid: kid, alg: alg, thumbprint: base64.RawURLEncoding.EncodeToString(tp), verify: verify}, kid, ""
}

// newVerifyFunc returns the signature check of a public key for spec.
func newVerifyFunc(spec algSpec, rawKey any) (func(signingInput, sig []byte) bool, string) {
	switch pub := rawKey.(type) {
	case *rsa.PublicKey:
		if spec.kty != jwa.RSA {
			return nil, "key type does not match alg"
		}
		if pub.N == nil || pub.N.BitLen() < MinRSAKeyBits {
			return nil, "RSA key shorter than 2048 bits"
		}
		if spec.pss {
			opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: spec.hash}
			return func(in, sig []byte) bool {
				return rsa.VerifyPSS(pub, spec.hash, digest(spec.hash, in), sig, opts) == nil
			}, ""
		}
		return func(in, sig []byte) bool {
			return rsa.VerifyPKCS1v15(pub, spec.hash, digest(spec.hash, in), sig) == nil
		}, ""
	case *ecdsa.PublicKey:
		if spec.kty != jwa.EC || pub.Curve != spec.curve {
			return nil, "EC curve does not match alg"
		}
		if _, err := pub.ECDH(); err != nil {
			return nil, "invalid EC point"
		}
		size := (spec.curve.Params().BitSize + 7) / 8
		return func(in, sig []byte) bool {
			// RFC 7518 §3.4: the signature is R || S, each exactly size bytes.
			if len(sig) != 2*size {
				return false
			}
			r := new(big.Int).SetBytes(sig[:size])
			s := new(big.Int).SetBytes(sig[size:])
			return ecdsa.Verify(pub, digest(spec.hash, in), r, s)
		}, ""
	case ed25519.PublicKey:
		if spec.kty != jwa.OKP {
			return nil, "key type does not match alg"
		}
		if len(pub) != ed25519.PublicKeySize {
			return nil, "invalid Ed25519 key"
		}
		return func(in, sig []byte) bool {
			return len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, in, sig)
		}, ""
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return nil, "private key material in the JWKS"
	case []byte:
		return nil, "symmetric key"
	}
	return nil, "unsupported key type"
}

func digest(h crypto.Hash, in []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(in)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(in)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(in)
		return d[:]
	}
	return nil
}

// validKID reports whether kid may be looked up: 1 to 256 bytes of UTF-8
// without control characters. Anything else (64 KiB strings, NUL bytes) is
// refused before any lookup (SECURITY-CHECKLIST item 7).
func validKID(kid string) bool {
	if kid == "" || len(kid) > maxKIDLen || !utf8.ValidString(kid) {
		return false
	}
	for i := 0; i < len(kid); i++ {
		if c := kid[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
