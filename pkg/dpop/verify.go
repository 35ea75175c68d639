package dpop

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Errors of Verify, wrapped with the reason; test them with errors.Is.
var (
	// ErrInvalidProof: the proof is missing, malformed, or fails a check:
	// the invalid_dpop_proof error (RFC 9449 §7.1, §5).
	ErrInvalidProof = errors.New("dpop: invalid proof")
	// ErrUseNonce: the proof carries no nonce, or a stale one, where one
	// is demanded: the use_dpop_nonce error (RFC 9449 §8, §9), answered
	// with the current nonce in DPoP-Nonce.
	ErrUseNonce = errors.New("dpop: use nonce")
)

// ProofType is the typ of a DPoP proof (RFC 9449 §4.2).
const ProofType = "dpop+jwt"

// Defaults of a Verifier.
const (
	DefaultWindow = 60 * time.Second
	// DefaultReplayEntries bounds the replay cache: about 100 bytes an
	// entry, so some tens of megabytes at most.
	DefaultReplayEntries = 1 << 18
	// maxProofSize bounds what is parsed: a proof with an RSA-4096 key
	// is under 2 KiB.
	maxProofSize = 8 << 10
	maxJTILen    = 256
)

// DefaultAlgorithms are the proof algorithms accepted unless configured:
// the two whose keys and signatures are small and that have no padding
// choices.
var DefaultAlgorithms = []jwa.SignatureAlgorithm{jwa.ES256, jwa.EdDSA}

// asymmetric are the algorithms that may be configured: never none or
// HS* (a proof must be signed by the private half of the jwk it carries).
var asymmetric = []jwa.SignatureAlgorithm{
	jwa.ES256, jwa.ES384, jwa.ES512, jwa.EdDSA,
	jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512,
}

// Verifier checks DPoP proofs. It is safe for concurrent use; one per
// process per audience, so its replay cache sees every proof it accepts.
type Verifier struct {
	algs    []jwa.SignatureAlgorithm
	window  time.Duration
	now     func() time.Time
	replay  *replayCache
	nonces  *Nonces
	algList string
}

// Option configures a Verifier.
type Option func(*Verifier) error

// WithAlgorithms replaces the allowed proof algorithms; only asymmetric
// JWS algorithms are accepted.
func WithAlgorithms(algs ...jwa.SignatureAlgorithm) Option {
	return func(v *Verifier) error {
		if len(algs) == 0 {
			return errors.New("dpop: at least one algorithm")
		}
		for _, a := range algs {
			if !slices.Contains(asymmetric, a) {
				return fmt.Errorf("dpop: algorithm %q is not an asymmetric JWS algorithm", a)
			}
		}
		v.algs = slices.Clone(algs)
		return nil
	}
}

// Configured is the options of a deployment's settings: the algorithms by
// name (none: the defaults) and the iat window (zero: the default).
func Configured(algs []string, window time.Duration) []Option {
	var opts []Option
	if len(algs) > 0 {
		as := make([]jwa.SignatureAlgorithm, len(algs))
		for i, a := range algs {
			as[i] = jwa.SignatureAlgorithm(a)
		}
		opts = append(opts, WithAlgorithms(as...))
	}
	if window > 0 {
		opts = append(opts, WithWindow(window))
	}
	return opts
}

// WithWindow sets how far iat may be from now, either way.
func WithWindow(d time.Duration) Option {
	return func(v *Verifier) error {
		if d < time.Second || d > 10*time.Minute {
			return fmt.Errorf("dpop: window %s: between 1s and 10m", d)
		}
		v.window = d
		return nil
	}
}

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) error { v.now = now; return nil }
}

// WithReplayEntries bounds the replay cache.
func WithReplayEntries(n int) Option {
	return func(v *Verifier) error {
		if n < 1 {
			return errors.New("dpop: the replay cache needs at least one entry")
		}
		v.replay.max = n
		return nil
	}
}

// WithNonces demands a server nonce in every proof.
func WithNonces(n *Nonces) Option {
	return func(v *Verifier) error { v.nonces = n; return nil }
}

// NewVerifier returns a Verifier with the defaults changed by opts.
func NewVerifier(opts ...Option) (*Verifier, error) {
	v := &Verifier{
		algs:   slices.Clone(DefaultAlgorithms),
		window: DefaultWindow,
		now:    time.Now,
		replay: newReplayCache(0, DefaultReplayEntries),
	}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, err
		}
	}
	// A jti must be remembered as long as a proof carrying it can pass
	// the iat check: from iat-window to iat+window, whatever iat was.
	v.replay.ttl = 2 * v.window
	names := make([]string, len(v.algs))
	for i, a := range v.algs {
		names[i] = a.String()
	}
	v.algList = strings.Join(names, " ")
	return v, nil
}

// Algorithms are the allowed algorithms: for the metadata
// dpop_signing_alg_values_supported and the algs of a WWW-Authenticate
// challenge (space-separated by AlgorithmList).
func (v *Verifier) Algorithms() []string { return strings.Fields(v.algList) }

// AlgorithmList is Algorithms space-separated.
func (v *Verifier) AlgorithmList() string { return v.algList }

// Nonce is the nonce to send in DPoP-Nonce now; "" without nonces.
func (v *Verifier) Nonce() string {
	if v.nonces == nil {
		return ""
	}
	return v.nonces.Current(v.now())
}

// Request is what a proof must match.
type Request struct {
	// Method is the HTTP method (htm); "POST" for gRPC.
	Method string
	// URI is the request's absolute URI (htu), with or without query.
	URI string
	// AccessToken, when not empty, must be hashed in ath (at a resource).
	AccessToken string
}

// Proof is an accepted proof.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key,
	// base64url: the cnf.jkt a token bound to it carries.
	JKT string
	// Key is the public key.
	Key jwk.Key
	// JTI and IssuedAt are the proof's.
	JTI      string
	IssuedAt time.Time
	// RenewNonce is set when the proof's nonce is the previous slot's:
	// send Nonce in DPoP-Nonce with the response.
	RenewNonce bool
}

type header struct {
	Typ  string          `json:"typ"`
	Alg  string          `json:"alg"`
	JWK  json.RawMessage `json:"jwk"`
	Crit json.RawMessage `json:"crit"`
}

type claims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   *string  `json:"ath"`
	Nonce *string  `json:"nonce"`
}

// privateMembers are the JWK members of private or symmetric keys (RFC
// 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2): a proof's jwk must have none.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

func refuse(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidProof}, a...)...)
}

// Verify checks one proof (the value of the single DPoP header) against
// req (RFC 9449 §4.3) and records its jti.
func (v *Verifier) Verify(proof string, req Request) (Proof, error) {
	if proof == "" {
		return Proof{}, refuse("no proof")
	}
	if len(proof) > maxProofSize {
		return Proof{}, refuse("the proof is too large")
	}
	parts := strings.Split(proof, ".")
	if len(parts) != 3 || parts[2] == "" {
		return Proof{}, refuse("not a signed compact JWS")
	}
	var h header
	if err := decodeSegment(parts[0], &h); err != nil {
		return Proof{}, refuse("header: %v", err)
	}
	if h.Typ != ProofType {
		return Proof{}, refuse("typ must be %s", ProofType)
	}
	alg := jwa.SignatureAlgorithm(h.Alg)
	if !slices.Contains(v.algs, alg) {
		return Proof{}, refuse("alg %q is not allowed", h.Alg)
	}
	if len(h.Crit) > 0 {
		return Proof{}, refuse("crit is not supported")
	}
	key, jkt, err := publicJWK(h.JWK)
	if err != nil {
		return Proof{}, err
	}
	payload, err := jws.Verify([]byte(proof), jws.WithKey(alg, key))
	if err != nil {
		return Proof{}, refuse("signature: %v", err)
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Proof{}, refuse("claims: %v", err)
	}
	now := v.now()
	renew, err := v.checkClaims(c, req, now)
	if err != nil {
		return Proof{}, err
	}
	// Last, so that a refused proof does not use up its jti.
	fresh, err := v.replay.add(jkt, c.JTI, now)
	if err != nil {
		return Proof{}, refuse("%v", err)
	}
	if !fresh {
		return Proof{}, refuse("jti was used before")
	}
	return Proof{JKT: jkt, Key: key, JTI: c.JTI, IssuedAt: time.Unix(int64(*c.IAT), 0), RenewNonce: renew}, nil
}

func (v *Verifier) checkClaims(c claims, req Request, now time.Time) (renewNonce bool, err error) {
	switch {
	case c.JTI == "":
		return false, refuse("jti is required")
	case len(c.JTI) > maxJTILen:
		return false, refuse("jti is too long")
	case c.HTM == "" || c.HTU == "" || c.IAT == nil:
		return false, refuse("htm, htu and iat are required")
	case c.HTM != req.Method:
		return false, refuse("htm does not match the request method")
	}
	got, err := NormalizeHTU(c.HTU)
	if err != nil {
		return false, refuse("%v", err)
	}
	want, err := NormalizeHTU(req.URI)
	if err != nil {
		return false, fmt.Errorf("dpop: the request URI: %w", err)
	}
	if got != want {
		return false, refuse("htu does not match the request URI")
	}
	iat := time.Unix(int64(*c.IAT), 0)
	if iat.Before(now.Add(-v.window)) || iat.After(now.Add(v.window)) {
		return false, refuse("iat is outside the accepted window")
	}
	if req.AccessToken != "" {
		if c.ATH == nil {
			return false, refuse("ath is required with an access token")
		}
		sum := sha256.Sum256([]byte(req.AccessToken))
		want := base64.RawURLEncoding.EncodeToString(sum[:])
		if subtle.ConstantTimeCompare([]byte(*c.ATH), []byte(want)) != 1 {
			return false, refuse("ath does not match the access token")
		}
	}
	if v.nonces != nil {
		if c.Nonce == nil {
			return false, fmt.Errorf("%w: a nonce is required", ErrUseNonce)
		}
		ok, current := v.nonces.Check(*c.Nonce, now)
		if !ok {
			return false, fmt.Errorf("%w: the nonce is invalid or expired", ErrUseNonce)
		}
		return !current, nil
	}
	return false, nil
}

// publicJWK parses the header's jwk, refusing private and symmetric keys,
// and returns it with its RFC 7638 thumbprint.
func publicJWK(raw json.RawMessage) (jwk.Key, string, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) { // not-secret: the JSON literal null, a public header
		return nil, "", refuse("jwk is required")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, "", refuse("jwk: %v", err)
	}
	for _, m := range privateMembers {
		if _, ok := members[m]; ok {
			return nil, "", refuse("jwk must be a public key (it has %q)", m)
		}
	}
	key, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, "", refuse("jwk: %v", err)
	}
	var pub any
	if err := key.Raw(&pub); err != nil {
		return nil, "", refuse("jwk: %v", err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, "", refuse("jwk: an RSA key needs at least 2048 bits")
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, "", refuse("jwk must be a public signing key, not %T", pub)
	}
	jkt, err := Thumbprint(key)
	if err != nil {
		return nil, "", refuse("jwk: %v", err)
	}
	return key, jkt, nil
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of key, base64url: the
// jkt of RFC 9449 §6.1.
func Thumbprint(key jwk.Key) (string, error) {
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// AccessTokenHash is the ath of a proof sent with token (RFC 9449 §4.2).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func decodeSegment(seg string, into any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}
