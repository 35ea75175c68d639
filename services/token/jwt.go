package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // registers crypto.SHA256 for ecSpecs and rsaHashes
	_ "crypto/sha512" // registers crypto.SHA384 and crypto.SHA512
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// accessToken is what an RFC 9068 access token says.
type accessToken struct {
	subject  string
	clientID string
	audience string
	scope    string // space-separated; omitted from the JWT when empty
	lifetime time.Duration
	// authTime is when the user authenticated (RFC 9068 §2.2.1
	// auth_time), for tokens issued for a user; zero omits it.
	authTime time.Time
	// familyID is the grant (refresh-token family) the token was issued
	// from, as the private claim fid: revoking the family refuses the
	// token. Empty for client credentials.
	familyID string
	// certThumbprint binds the token to a client certificate (RFC 8705
	// §3.1, cnf x5t#S256); empty for a bearer token.
	certThumbprint string
	// dpopJKT binds the token to a DPoP key (RFC 9449 §6.1, cnf jkt);
	// empty for a token not bound to one.
	dpopJKT string
}

// FamilyClaim is the private claim naming the grant an access token was
// issued from (pkg/authn reads it into Principal.FamilyID).
const FamilyClaim = "fid"

// minted is a signed access token and the times it carries.
type minted struct {
	jwt       string
	expiresIn int64 // seconds
}

// accessTokenMinter signs access tokens, and the other JWTs of a grant (ID
// tokens); the grant handlers need nothing else from the token machinery.
type accessTokenMinter interface {
	mint(ctx context.Context, t accessToken) (minted, error)
	signJWT(ctx context.Context, typ string, build func(jwa.SignatureAlgorithm) (any, error)) (string, error)
}

// jtiBytes is the random part of a jti: 128 bits (RFC 6749 §10.10,
// checklist item 61), 22 base64url characters.
const jtiBytes = 16

// jwtMinter builds RFC 9068 JWT access tokens without reflection: the
// protected header is encoded once per signing key, the claims are
// appended into a buffer, and the signing input is signed with the Go
// standard library (ECDSA signatures in the JWS r||s form, RFC 7518 §3.4).
type jwtMinter struct {
	issuer string
	signer Signer
	now    func() time.Time

	prepared atomic.Pointer[preparedKey]
	bufs     sync.Pool
}

var _ accessTokenMinter = (*jwtMinter)(nil)

func newJWTMinter(issuer string, signer Signer, now func() time.Time) *jwtMinter {
	return &jwtMinter{issuer: issuer, signer: signer, now: now,
		bufs: sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}}
}

// preparedKey is a signing key ready for use: its encoded header and a
// signing function. It is rebuilt when the Signer hands out another key.
type preparedKey struct {
	src       jwk.Key
	kid       string
	alg       jwa.SignatureAlgorithm
	headerB64 []byte
	sign      func(signingInput []byte) ([]byte, error)
}

func (m *jwtMinter) mint(ctx context.Context, t accessToken) (minted, error) {
	sk, err := m.signer.SigningKey(ctx)
	if err != nil {
		return minted{}, errUnavailable(fmt.Errorf("signing key: %w", err))
	}
	pk, err := m.prepare(sk)
	if err != nil {
		return minted{}, errServer(err)
	}
	var jti [jtiBytes]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return minted{}, errServer(fmt.Errorf("jti: %w", err))
	}
	iat := m.now().Unix()
	life := int64(t.lifetime / time.Second)
	exp := iat + life

	bp := m.bufs.Get().(*[]byte)
	defer m.bufs.Put(bp)
	claims := (*bp)[:0]
	claims = append(claims, `{"iss":`...)
	claims = appendJSONString(claims, m.issuer)
	claims = append(claims, `,"sub":`...)
	claims = appendJSONString(claims, t.subject)
	claims = append(claims, `,"aud":`...)
	claims = appendJSONString(claims, t.audience)
	claims = append(claims, `,"exp":`...)
	claims = strconv.AppendInt(claims, exp, 10)
	claims = append(claims, `,"iat":`...)
	claims = strconv.AppendInt(claims, iat, 10)
	claims = append(claims, `,"nbf":`...)
	claims = strconv.AppendInt(claims, iat, 10)
	claims = append(claims, `,"jti":"`...)
	claims = base64.RawURLEncoding.AppendEncode(claims, jti[:])
	claims = append(claims, `","client_id":`...)
	claims = appendJSONString(claims, t.clientID)
	if t.scope != "" {
		claims = append(claims, `,"scope":`...)
		claims = appendJSONString(claims, t.scope)
	}
	if !t.authTime.IsZero() {
		claims = append(claims, `,"auth_time":`...)
		claims = strconv.AppendInt(claims, t.authTime.Unix(), 10)
	}
	if t.familyID != "" {
		claims = append(claims, `,"`+FamilyClaim+`":`...)
		claims = appendJSONString(claims, t.familyID)
	}
	if t.certThumbprint != "" || t.dpopJKT != "" {
		claims = append(claims, `,"cnf":{`...)
		if t.certThumbprint != "" {
			claims = append(claims, `"x5t#S256":`...)
			claims = appendJSONString(claims, t.certThumbprint)
		}
		if t.dpopJKT != "" {
			if t.certThumbprint != "" {
				claims = append(claims, ',')
			}
			claims = append(claims, `"jkt":`...)
			claims = appendJSONString(claims, t.dpopJKT)
		}
		claims = append(claims, '}')
	}
	claims = append(claims, '}')

	n := len(pk.headerB64) + 1 + base64.RawURLEncoding.EncodedLen(len(claims))
	out := make([]byte, 0, n+1+base64.RawURLEncoding.EncodedLen(132))
	out = append(out, pk.headerB64...)
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, claims)
	*bp = claims
	sig, err := pk.sign(out)
	if err != nil {
		return minted{}, errServer(fmt.Errorf("sign access token: %w", err))
	}
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, sig)
	return minted{jwt: string(out), expiresIn: life}, nil
}

// prepare returns the prepared form of sk, reusing the last one while the
// Signer returns the same key.
func (m *jwtMinter) prepare(sk SigningKey) (*preparedKey, error) {
	if p := m.prepared.Load(); p != nil && p.src == sk.Key && p.kid == sk.KID && p.alg == sk.Alg {
		return p, nil
	}
	p, err := prepareKey(sk)
	if err != nil {
		return nil, err
	}
	m.prepared.Store(p)
	return p, nil
}

// prepareKey checks that the key fits its one algorithm (RFC 8725 §3.1) and
// builds the RFC 9068 §2.1 header {"alg","kid","typ":"at+jwt"}.
func prepareKey(sk SigningKey) (*preparedKey, error) {
	if sk.Key == nil || sk.KID == "" {
		return nil, errors.New("signing key: a key and a kid are required")
	}
	if a := sk.Key.Algorithm().String(); a != "" && a != sk.Alg.String() {
		return nil, fmt.Errorf("signing key %s: the JWK says alg %s, the key service %s", sk.KID, a, sk.Alg)
	}
	var raw any
	if err := sk.Key.Raw(&raw); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", sk.KID, err)
	}
	sign, err := signFunc(sk.Alg, raw)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", sk.KID, err)
	}
	h := make([]byte, 0, 64+len(sk.KID))
	h = append(h, `{"alg":`...)
	h = appendJSONString(h, sk.Alg.String())
	h = append(h, `,"kid":`...)
	h = appendJSONString(h, sk.KID)
	h = append(h, `,"typ":"at+jwt"}`...)
	return &preparedKey{
		src: sk.Key, kid: sk.KID, alg: sk.Alg,
		headerB64: base64.RawURLEncoding.AppendEncode(nil, h),
		sign:      sign,
	}, nil
}

// ecSpec is an ECDSA algorithm of RFC 7518 §3.4: its curve, hash, and the
// width of R and of S in the signature.
type ecSpec struct {
	curve elliptic.Curve
	hash  crypto.Hash
	size  int
}

var (
	ecSpecs = map[jwa.SignatureAlgorithm]ecSpec{
		jwa.ES256: {elliptic.P256(), crypto.SHA256, 32},
		jwa.ES384: {elliptic.P384(), crypto.SHA384, 48},
		jwa.ES512: {elliptic.P521(), crypto.SHA512, 66},
	}
	rsaHashes = map[jwa.SignatureAlgorithm]crypto.Hash{
		jwa.RS256: crypto.SHA256, jwa.RS384: crypto.SHA384, jwa.RS512: crypto.SHA512,
		jwa.PS256: crypto.SHA256, jwa.PS384: crypto.SHA384, jwa.PS512: crypto.SHA512,
	}
)

// signFunc returns the JWS signing function of alg (RFC 7518 §3) over a
// private key, refusing a key of the wrong type, curve or size.
func signFunc(alg jwa.SignatureAlgorithm, raw any) (func([]byte) ([]byte, error), error) {
	if spec, ok := ecSpecs[alg]; ok {
		priv, ok := raw.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s needs an EC private key, not %T", alg, raw)
		}
		if priv.Curve != spec.curve {
			return nil, fmt.Errorf("%s needs curve %s, the key is on %s", alg, spec.curve.Params().Name, priv.Curve.Params().Name)
		}
		return func(in []byte) ([]byte, error) {
			h := spec.hash.New()
			h.Write(in)
			r, s, err := ecdsa.Sign(rand.Reader, priv, h.Sum(nil))
			if err != nil {
				return nil, err
			}
			// RFC 7518 §3.4: the fixed-width big-endian R || S, not ASN.1.
			sig := make([]byte, 2*spec.size)
			r.FillBytes(sig[:spec.size])
			s.FillBytes(sig[spec.size:])
			return sig, nil
		}, nil
	}
	if h, ok := rsaHashes[alg]; ok {
		priv, ok := raw.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s needs an RSA private key, not %T", alg, raw)
		}
		if priv.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%s needs an RSA key of at least 2048 bits (RFC 7518 §3.3)", alg)
		}
		pss := alg == jwa.PS256 || alg == jwa.PS384 || alg == jwa.PS512
		return func(in []byte) ([]byte, error) {
			hh := h.New()
			hh.Write(in)
			d := hh.Sum(nil)
			if pss {
				return rsa.SignPSS(rand.Reader, priv, h, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			}
			return rsa.SignPKCS1v15(nil, priv, h, d)
		}, nil
	}
	if alg == jwa.EdDSA {
		priv, ok := raw.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("EdDSA needs an Ed25519 private key, not %T", raw)
		}
		return func(in []byte) ([]byte, error) { return ed25519.Sign(priv, in), nil }, nil
	}
	return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
}
