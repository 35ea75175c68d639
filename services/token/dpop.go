package token

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
)

// Error codes of RFC 9449 §5, §8 and §12.2.
const (
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	CodeUseDPoPNonce     = "use_dpop_nonce"
)

// Audit reasons of DPoP at the token endpoint.
const (
	ReasonInvalidDPoPProof    = audit.ReasonInvalidDPoPProof
	ReasonDPoPBindingMismatch = audit.ReasonDPoPBindingMismatch
)

// headerDPoP carries the proof; headerDPoPNonce the server nonce (RFC
// 9449 §4.1, §8.1).
const (
	headerDPoP      = "DPoP"
	headerDPoPNonce = "DPoP-Nonce"
)

// newDPoPVerifier builds the token endpoint's proof verifier from the
// configuration: its nonces are keyed by a key derived from DeviceKey, the
// secret the replicas already share, so a nonce from one replica is good
// at another.
func newDPoPVerifier(cfg Config) (*dpop.Verifier, error) {
	opts := append([]dpop.Option{dpop.WithClock(cfg.Now)}, dpop.Configured(cfg.DPoPAlgorithms, cfg.DPoPWindow)...)
	if !cfg.DPoPNoNonce {
		n, err := dpop.NoncesFromSecret(cfg.DeviceKey, "token")
		if err != nil {
			return nil, err
		}
		opts = append(opts, dpop.WithNonces(n))
	}
	v, err := dpop.NewVerifier(opts...)
	if err != nil {
		return nil, fmt.Errorf("token: config: %w", err)
	}
	return v, nil
}

// errDPoP is the refusal of a proof: use_dpop_nonce with the nonce to
// use (RFC 9449 §8), or invalid_dpop_proof (§5); both 400.
func (s *Service) errDPoP(err error) *Error {
	if errors.Is(err, dpop.ErrUseNonce) {
		return &Error{Code: CodeUseDPoPNonce, Status: http.StatusBadRequest,
			Description: "a DPoP nonce is required", Cause: err, DPoPNonce: s.dpop.Nonce()}
	}
	return &Error{Code: CodeInvalidDPoPProof, Status: http.StatusBadRequest,
		Description: "the DPoP proof is invalid", Cause: err}
}

// tokenProof checks the DPoP proof of a token request (RFC 9449 §5): none
// is fine unless the client is registered for DPoP-bound tokens; one must
// be valid for POST to the token endpoint; two are refused (§4.3). It
// returns the key's thumbprint ("" without a proof) and whether to send a
// fresh nonce with the response.
func (s *Service) tokenProof(ctx context.Context, r *http.Request, cl *client) (string, bool, error) {
	return s.endpointProof(ctx, r, cl, tokenPath, cl.dpopBound)
}

// endpointProof checks the DPoP proof of a request to the endpoint at
// path (the token endpoint, or the PAR endpoint, RFC 9449 §10.1): one
// valid for POST to that endpoint, under the issuer or its mTLS alias;
// none is refused only when required.
func (s *Service) endpointProof(ctx context.Context, r *http.Request, cl *client, path string, required bool) (string, bool, error) {
	proofs := r.Header.Values(headerDPoP)
	switch {
	case len(proofs) == 0 && !required:
		return "", false, nil
	case len(proofs) == 0:
		s.record(ctx, ReasonInvalidDPoPProof, cl.id, path, s.cfg.RemoteIP(r))
		return "", false, &Error{Code: CodeInvalidDPoPProof, Status: http.StatusBadRequest,
			Description: "the client must send a DPoP proof"}
	case len(proofs) > 1:
		s.record(ctx, ReasonInvalidDPoPProof, cl.id, path, s.cfg.RemoteIP(r))
		return "", false, s.errDPoP(fmt.Errorf("%w: more than one DPoP header", dpop.ErrInvalidProof))
	}
	p, err := s.dpop.Verify(proofs[0], dpop.Request{Method: r.Method, URI: s.cfg.Issuer + path})
	if errors.Is(err, dpop.ErrInvalidProof) && s.cfg.MTLSBase != "" {
		// The same endpoint under its mTLS alias (RFC 8705 §5).
		p, err = s.dpop.Verify(proofs[0], dpop.Request{Method: r.Method, URI: s.cfg.MTLSBase + issuerPath(s.cfg.Issuer) + path})
	}
	if err != nil {
		if !errors.Is(err, dpop.ErrUseNonce) {
			s.record(ctx, ReasonInvalidDPoPProof, cl.id, path, s.cfg.RemoteIP(r))
		}
		return "", false, s.errDPoP(err)
	}
	return p.JKT, p.RenewNonce, nil
}

type dpopKey struct{}

// withDPoPKey carries the thumbprint a token must be bound to (cnf.jkt).
func withDPoPKey(ctx context.Context, jkt string) context.Context {
	return context.WithValue(ctx, dpopKey{}, jkt)
}

func dpopJKT(ctx context.Context) string {
	jkt, _ := ctx.Value(dpopKey{}).(string)
	return jkt
}

// validJKT: a dpop_jkt parameter is a SHA-256 thumbprint, 43 base64url
// characters (RFC 9449 §10, RFC 7638).
func validJKT(s string) bool { return validChallenge(s) }

// sameJKT compares a bound thumbprint with the proof's ("" for none) in
// constant time: thumbprints are public, but the comparison is the
// binding check, so it is made the way secrets are.
func sameJKT(bound, proof string) bool {
	return proof != "" && subtle.ConstantTimeCompare([]byte(bound), []byte(proof)) == 1
}

// dpopAlgorithms are the proof algorithms accepted, for the metadata's
// dpop_signing_alg_values_supported (RFC 9449 §5.1).
func dpopAlgorithms(cfg Config) []string {
	if len(cfg.DPoPAlgorithms) > 0 {
		return cfg.DPoPAlgorithms
	}
	out := make([]string, len(dpop.DefaultAlgorithms))
	for i, a := range dpop.DefaultAlgorithms {
		out[i] = a.String()
	}
	return out
}
