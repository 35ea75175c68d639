package token

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	tokenv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// userInfoError is a refusal of a UserInfo request (RFC 6750 §3.1): 401
// with invalid_token, 403 with insufficient_scope, 400 with
// invalid_request, or 401 without a code when no token was presented.
type userInfoError struct {
	status     int
	code, desc string
	// dpop: answer with a DPoP challenge (RFC 9449 §7.1).
	dpop        bool
	reason      audit.Reason
	clientID    string
	unavailable error
}

// userInfoFor validates an access token for UserInfo (Core §5.3): the same
// checks as at every resource (signature, typ at+jwt, iss, exp,
// revocation), its certificate binding when it has one (RFC 8705 §3), the
// openid scope, and a user who still exists and is enabled.
func (s *Service) userInfoFor(ctx context.Context, tok string, peerThumbprint string, proof *userInfoProof) (userInfo, *userInfoError) {
	c, err := s.verifier.VerifyAccessToken(ctx, tok)
	if err != nil {
		var ae *authn.AuthError
		if errors.As(err, &ae) && ae.Code == codes.Unavailable {
			return userInfo{}, &userInfoError{unavailable: err}
		}
		reason := audit.ReasonInvalidToken
		if ae != nil && ae.Reason != "" {
			reason = ae.Reason
		}
		return userInfo{}, &userInfoError{status: http.StatusUnauthorized, code: "invalid_token", desc: "the access token is invalid", reason: reason}
	}
	if c.CertThumbprint != "" && subtle.ConstantTimeCompare([]byte(c.CertThumbprint), []byte(peerThumbprint)) != 1 {
		return userInfo{}, &userInfoError{status: http.StatusUnauthorized, code: "invalid_token", clientID: c.ClientID,
			desc: "the access token is bound to a client certificate that was not presented", reason: audit.ReasonCertificateBindingMismatch}
	}
	if ue := s.checkUserInfoProof(c.DPoPJKT, c.ClientID, tok, proof); ue != nil {
		return userInfo{}, ue
	}
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, ScopeOpenID) {
		return userInfo{}, &userInfoError{status: http.StatusForbidden, code: CodeInsufficientScope, clientID: c.ClientID,
			desc: "the access token was not granted the openid scope", reason: audit.ReasonInsufficientScope}
	}
	u, err := s.users.Claims(ctx, c.Subject)
	switch {
	case errors.Is(err, ErrUnknownUser), err == nil && u.Disabled:
		return userInfo{}, &userInfoError{status: http.StatusUnauthorized, code: "invalid_token", clientID: c.ClientID,
			desc: "the user no longer exists or is disabled", reason: audit.ReasonInvalidToken}
	case err != nil:
		return userInfo{}, &userInfoError{unavailable: err}
	}
	return claimsFor(c.Subject, u, scopes), nil
}

// handleUserInfo is the UserInfo endpoint (Core §5.3), GET or POST, with
// the access token in the Authorization header or, on POST, in a
// form-encoded body (RFC 6750 §2.1, §2.2), never in the query. It is open
// to every origin: the token, not a cookie, is the credential, so a
// browser app on any origin may call it.
func (s *Service) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", headerCacheControlNoStore)
	h.Set("Pragma", headerPragmaNoCache)
	ctx := r.Context()
	tok, dpopScheme, ok := userInfoToken(w, r)
	proof := &userInfoProof{scheme: dpopScheme, proofs: r.Header.Values(headerDPoP), method: r.Method}
	var thumb string
	if certs := peerCerts(r); len(certs) > 0 {
		thumb = authn.CertThumbprint(certs[0])
	}
	var (
		info userInfo
		ue   *userInfoError
	)
	switch {
	case !ok:
		ue = &userInfoError{status: http.StatusBadRequest, code: CodeInvalidRequest, desc: "send the access token once, in the Authorization header or a form body", reason: audit.ReasonMalformedCredential}
	case tok == "":
		ue = &userInfoError{status: http.StatusUnauthorized, reason: audit.ReasonMissingCredential}
	default:
		info, ue = s.userInfoFor(ctx, tok, thumb, proof)
	}
	if ue != nil {
		s.writeUserInfoError(w, r, ue)
		return
	}
	b, err := json.Marshal(info)
	if err != nil {
		s.writeUserInfoError(w, r, &userInfoError{unavailable: err})
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// handleUserInfoPreflight answers a browser's CORS preflight for UserInfo.
func (s *Service) handleUserInfoPreflight(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) writeUserInfoError(w http.ResponseWriter, r *http.Request, ue *userInfoError) {
	ctx := r.Context()
	if ue.unavailable != nil {
		s.log.ErrorContext(ctx, "userinfo", "error", ue.unavailable)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, []byte(`{"error":"temporarily_unavailable"}`))
		return
	}
	s.record(ctx, ue.reason, ue.clientID, userinfoPath, s.cfg.RemoteIP(r))
	challenge := `Bearer realm="` + s.cfg.Issuer + `"`
	if ue.dpop {
		challenge = `DPoP realm="` + s.cfg.Issuer + `", algs="` + strings.Join(dpopAlgorithms(s.cfg), " ") + `"`
	}
	if ue.code != "" {
		challenge += `, error="` + ue.code + `", error_description="` + ue.desc + `"`
		if ue.code == CodeInsufficientScope {
			challenge += `, scope="openid"`
		}
	}
	w.Header().Set("WWW-Authenticate", challenge)
	if ue.code == "" {
		w.WriteHeader(ue.status)
		return
	}
	body := appendJSONString([]byte(`{"error":`), ue.code)
	body = append(body, `,"error_description":`...)
	body = appendJSONString(body, ue.desc)
	writeJSON(w, ue.status, append(body, '}'))
}

// userInfoToken finds the access token of a UserInfo request; ok is false
// when it is presented more than once or malformed (RFC 6750 §2: one
// method only). The query is not a place for it (RFC 9700 §2.4).
func userInfoToken(w http.ResponseWriter, r *http.Request) (tok string, dpopScheme, ok bool) {
	var found []string
	if hs := r.Header.Values("Authorization"); len(hs) > 0 {
		if len(hs) > 1 {
			return "", false, false
		}
		scheme, value, cut := strings.Cut(hs[0], " ")
		dpopScheme = strings.EqualFold(scheme, "DPoP")
		if !cut || (!strings.EqualFold(scheme, "Bearer") && !dpopScheme) || value == "" || strings.ContainsAny(value, " \t") {
			return "", false, false
		}
		found = append(found, value)
	}
	if r.Method == http.MethodPost {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == contentTypeFormURLEncoded {
			f, err := readForm(w, r)
			if err != nil {
				return "", false, false
			}
			if vs := f.all("access_token"); len(vs) > 0 {
				found = append(found, vs...)
			}
		}
	}
	switch len(found) {
	case 0:
		return "", false, true
	case 1:
		// The DPoP scheme names the header's token; a token in the body
		// beside it was refused above as a second one.
		return found[0], dpopScheme, true
	}
	return "", false, false
}

// userInfoProof is what a UserInfo request says about DPoP: whether the
// token came with the DPoP scheme, the proofs, and the request's method.
type userInfoProof struct {
	scheme bool
	proofs []string
	method string
}

// checkUserInfoProof applies RFC 9449 §7 at UserInfo, as the validators do
// at every resource: a DPoP-bound token only with the DPoP scheme and one
// valid proof by its key for this request (the endpoint's URL, ath); the
// DPoP scheme only with a bound token.
func (s *Service) checkUserInfoProof(jkt, clientID, tok string, p *userInfoProof) *userInfoError {
	refuse := func(code, desc string, reason audit.Reason) *userInfoError {
		return &userInfoError{status: http.StatusUnauthorized, code: code, desc: desc, reason: reason, clientID: clientID, dpop: true}
	}
	switch {
	case jkt == "" && !p.scheme:
		return nil
	case jkt == "":
		return refuse("invalid_token", "the DPoP scheme with a token not bound to a DPoP key", audit.ReasonDPoPBindingMismatch)
	case !p.scheme:
		// A downgrade: never accepted as a bearer token (§7.2).
		return refuse("invalid_token", "a DPoP-bound token must be sent with the DPoP scheme", audit.ReasonDPoPBindingMismatch)
	case len(p.proofs) != 1:
		return refuse(CodeInvalidDPoPProof, "send exactly one DPoP proof", audit.ReasonInvalidDPoPProof)
	}
	proof, err := s.dpopUserInfo.Verify(p.proofs[0], dpop.Request{Method: p.method, URI: s.endpoints.UserInfo, AccessToken: tok})
	if err != nil {
		return refuse(CodeInvalidDPoPProof, "the DPoP proof is invalid", audit.ReasonInvalidDPoPProof)
	}
	if !sameJKT(jkt, proof.JKT) {
		return refuse(CodeInvalidDPoPProof, "the DPoP proof is not by the key the token is bound to", audit.ReasonDPoPBindingMismatch)
	}
	return nil
}

// UserInfo implements TokenService: the UserInfo answer over gRPC for the
// caller's own access token, which the interceptor has validated (with its
// certificate binding) under the method's rule, openid included.
func (s *Service) UserInfo(ctx context.Context, _ *tokenv1.UserInfoRequest) (*tokenv1.UserInfoResponse, error) {
	p, ok := authn.FromContext(ctx)
	if !ok || p.Kind != authv1.CredentialKind_CREDENTIAL_KIND_JWT {
		return nil, status.Error(codes.Unauthenticated, "an access token is required")
	}
	if s.users == nil {
		return nil, status.Error(codes.Unimplemented, "this token service has no user directory")
	}
	if !slices.Contains(p.Scopes, ScopeOpenID) {
		return nil, status.Error(codes.PermissionDenied, "the access token was not granted the openid scope")
	}
	u, err := s.users.Claims(ctx, p.Subject)
	switch {
	case errors.Is(err, ErrUnknownUser), err == nil && u.Disabled:
		return nil, status.Error(codes.Unauthenticated, "the user no longer exists or is disabled")
	case err != nil:
		return nil, s.grpcError(ctx, errUnavailable(err))
	}
	info := claimsFor(p.Subject, u, p.Scopes)
	resp := &tokenv1.UserInfoResponse{Sub: info.Sub}
	if pc := info.profileClaims; pc != nil {
		resp.Name, resp.GivenName, resp.FamilyName = pc.Name, pc.GivenName, pc.FamilyName
		resp.PreferredUsername, resp.Locale = pc.PreferredUsername, pc.Locale
		if !u.UpdatedAt.IsZero() {
			resp.UpdateTime = timestamppb.New(u.UpdatedAt)
		}
	}
	if ec := info.emailClaims; ec != nil {
		resp.Email, resp.EmailVerified = ec.Email, ec.EmailVerified
	}
	return resp, nil
}
