package authn

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
)

// Metadata with which the REST gateway forwards a DPoP request
// (GatewayDPoPAnnotator): the method and URI of the HTTP request the
// client made, which its proof names, where a gRPC call's own are POST and
// the gRPC method. Like the client certificate's, they are read only from
// a trusted forwarder, so a gRPC caller cannot make a proof for one
// request pass for another; GatewayIncomingHeaderMatcher never produces
// them from request headers.
const (
	MetadataDPoPHTM = "x-gatehouse-dpop-htm"
	MetadataDPoPHTU = "x-gatehouse-dpop-htu"
)

// DPoP (RFC 9449 §7) at the resource.
const (
	// ErrInvalidDPoPProof: the DPoP proof is missing, invalid, or not by
	// the key the token is bound to. HTTP 401, gRPC Unauthenticated, with
	// a DPoP challenge.
	ErrInvalidDPoPProof = "invalid_dpop_proof"
	// ErrUseDPoPNonce: the proof must carry the server nonce given in
	// DPoP-Nonce (HTTP) or in the ErrorInfo metadata dpop_nonce (gRPC).
	ErrUseDPoPNonce = "use_dpop_nonce"

	schemeDPoP = "dpop"
	// mdDPoP is the metadata key of the proof, HeaderDPoP its header.
	mdDPoP     = "dpop"
	HeaderDPoP = "DPoP"
	// HeaderDPoPNonce carries the server nonce (RFC 9449 §8.1, §9).
	HeaderDPoPNonce = "DPoP-Nonce"
	// ErrorInfo metadata of DPoP refusals: the accepted algorithms (the
	// challenge's algs) and the nonce to use.
	dpopAlgsMetadataKey  = "dpop_algs"
	dpopNonceMetadataKey = "dpop_nonce"
)

// WithDPoP accepts DPoP-bound access tokens (cnf.jkt, RFC 9449 §7) sent
// with the DPoP scheme and a proof checked by verifier: its ath must hash
// the token, its key must be the one the token is bound to, and its jti
// must not have been seen (the verifier's replay cache). Every request
// checks its proof, also when the token itself comes from the cache.
//
// The proof's htu is the request's URI: for HTTP, origin (scheme://host,
// or the request's own Host and TLS state when origin is empty) with the
// request's path; for gRPC, htm POST and htu
// https://<authority>/<package.Service>/<Method>, with authority origin's
// host or, when origin is empty, the request's :authority. Behind a proxy
// that changes the host, give origin.
//
// Without WithDPoP a DPoP-bound token is refused: there is nothing to
// check its proof with.
func WithDPoP(verifier *dpop.Verifier, origin string) Option {
	return func(v *Validator) {
		v.dpop = verifier
		v.dpopOrigin = strings.TrimSuffix(origin, "/")
	}
}

// dpopHTTP fills the DPoP parts of an HTTP request.
func (v *Validator) dpopHTTP(req *request, r *http.Request) {
	req.dpopProofs = r.Header.Values(HeaderDPoP)
	req.htm = r.Method
	origin := v.dpopOrigin
	if origin == "" {
		scheme := "http"
		switch {
		case r.TLS != nil:
			scheme = "https"
		case strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") && InPrefixes(r.RemoteAddr, v.proxies):
			// TLS ended at a trusted proxy (WithTrustedProxies): the
			// client's request, which its proof names, was https.
			scheme = "https"
		}
		origin = scheme + "://" + r.Host
	}
	req.htu = origin + r.URL.EscapedPath()
}

// GatewayDPoPAnnotator is the grpc-gateway metadata annotator that
// carries a REST request's DPoP proofs to the gRPC validator
// (runtime.WithMetadata(v.GatewayDPoPAnnotator)): the DPoP headers as the
// dpop metadata, with MetadataDPoPHTM and MetadataDPoPHTU naming the HTTP
// request as HTTPMiddleware would (the validator's origin, or the
// request's scheme and Host, and its path). Without a DPoP header it adds
// nothing. Every proof is forwarded, so two are refused as over HTTP.
func (v *Validator) GatewayDPoPAnnotator(_ context.Context, r *http.Request) metadata.MD {
	proofs := r.Header.Values(HeaderDPoP)
	if len(proofs) == 0 {
		return nil
	}
	var req request
	v.dpopHTTP(&req, r)
	return metadata.MD{mdDPoP: proofs, MetadataDPoPHTM: {req.htm}, MetadataDPoPHTU: {req.htu}}
}

// dpopGRPC fills the DPoP parts of a gRPC request from its metadata. A
// request a trusted forwarder (the REST gateway) states an HTTP method and
// URI for is checked against those.
func (v *Validator) dpopGRPC(req *request, proofs, authority []string, forwarded bool, htm, htu []string) {
	req.dpopProofs = proofs
	if forwarded && len(htm) == 1 && len(htu) == 1 && htm[0] != "" && htu[0] != "" {
		req.htm, req.htu = htm[0], htu[0]
		return
	}
	req.htm = http.MethodPost
	origin := v.dpopOrigin
	if origin == "" && len(authority) == 1 {
		origin = "https://" + authority[0]
	} else if origin != "" {
		if _, host, ok := strings.Cut(origin, "://"); ok {
			origin = "https://" + host
		}
	}
	if origin != "" {
		req.htu = origin + req.method
	}
}

// checkDPoP applies RFC 9449 §7 to an authenticated principal: a token
// bound to a DPoP key needs the DPoP scheme (a Bearer one is a downgrade)
// and one valid proof by that key for this request; the DPoP scheme with
// a token bound to no key is refused too.
func (v *Validator) checkDPoP(req *request, p *Principal) *AuthError {
	bound := p.DPoPJKT != ""
	switch {
	case !bound && !req.credDPoP:
		return nil
	case !bound:
		return NewInvalidCredential(audit.ReasonDPoPBindingMismatch, p.ClientID, "the DPoP scheme with a token not bound to a DPoP key")
	case !req.credDPoP:
		return NewInvalidCredential(audit.ReasonDPoPBindingMismatch, p.ClientID, "a DPoP-bound token must be sent with the DPoP scheme")
	case v.dpop == nil:
		return NewInvalidCredential(audit.ReasonDPoPBindingMismatch, p.ClientID, "DPoP-bound tokens are not accepted here")
	case len(req.dpopProofs) != 1:
		return errDPoP(audit.ReasonInvalidDPoPProof, p.ClientID, "send exactly one DPoP proof", nil)
	case req.htu == "":
		return errDPoP(audit.ReasonInvalidDPoPProof, p.ClientID, "the request URI is unknown", nil)
	}
	proof, err := v.dpop.Verify(req.dpopProofs[0], dpop.Request{Method: req.htm, URI: req.htu, AccessToken: req.token})
	if errors.Is(err, dpop.ErrUseNonce) {
		ae := errDPoP(audit.ReasonInvalidDPoPProof, p.ClientID, "a DPoP nonce is required", err)
		ae.OAuthError = ErrUseDPoPNonce
		ae.DPoPNonce = v.dpop.Nonce()
		return ae
	}
	if err != nil {
		return errDPoP(audit.ReasonInvalidDPoPProof, p.ClientID, "the DPoP proof is invalid", err)
	}
	if !equalThumbprints(proof.JKT, p.DPoPJKT) {
		return errDPoP(audit.ReasonDPoPBindingMismatch, p.ClientID, "the DPoP proof is not by the key the token is bound to", nil)
	}
	return nil
}

func errDPoP(reason audit.Reason, clientID, message string, cause error) *AuthError {
	return &AuthError{Code: codes.Unauthenticated, Reason: reason, ClientID: clientID, Message: message,
		OAuthError: ErrInvalidDPoPProof, Err: cause}
}
