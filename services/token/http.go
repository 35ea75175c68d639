package token

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// Routes registers the OAuth endpoints on mux, with method patterns: any
// other method gets 405 with an Allow header from the mux. The paths are
// those of the issuer's endpoints, so an issuer with a path works:
//
//	POST <path>/oauth2/token                          RFC 6749 §3.2
//	POST <path>/oauth2/introspect                     RFC 7662 §2
//	POST <path>/oauth2/revoke                         RFC 7009 §2 (with a Revoker)
//	GET, POST <path>/oauth2/authorize                 RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1 (with Grants and Users)
//	POST <path>/oauth2/par                            RFC 9126 §2 (with Grants and Users)
//	POST <path>/oauth2/login, /oauth2/consent          the sign-in and consent forms
//	GET, POST <path>/oauth2/logout                     sign-out; RP-Initiated Logout §2
//	GET  /.well-known/oauth-authorization-server<path> RFC 8414 §3
//	GET, POST <path>/oauth2/userinfo                   OpenID Connect Core §5.3
//	GET  <path>/.well-known/openid-configuration      OpenID Connect Discovery §4
func (s *Service) Routes(mux *http.ServeMux) {
	p := issuerPath(s.cfg.Issuer)
	mux.HandleFunc("POST "+p+tokenPath, s.handleToken)
	mux.HandleFunc("POST "+p+introspectPath, s.handleIntrospect)
	if s.revoker != nil {
		mux.HandleFunc("POST "+p+revokePath, s.handleRevoke)
	}
	if s.grants != nil {
		mux.HandleFunc("GET "+p+authorizePath, s.handleAuthorize)
		mux.HandleFunc("POST "+p+authorizePath, s.handleAuthorize)
		mux.HandleFunc("POST "+p+parPath, s.handlePAR)
		mux.HandleFunc("POST "+p+loginPath, s.handleLogin)
		mux.HandleFunc("POST "+p+consentPath, s.handleConsent)
		mux.HandleFunc("GET "+p+logoutPath, s.handleEndSession)
		mux.HandleFunc("POST "+p+logoutPath, s.handleEndSession)
		mux.HandleFunc("GET "+p+staticPath, s.handleStatic)
		mux.HandleFunc("GET "+p+userinfoPath, s.handleUserInfo)
		mux.HandleFunc("POST "+p+userinfoPath, s.handleUserInfo)
		mux.HandleFunc("OPTIONS "+p+userinfoPath, s.handleUserInfoPreflight)
	}
	mux.HandleFunc("GET "+oauthMetadataPath+p, s.handleMetadata)
	mux.HandleFunc("GET "+p+oidcMetadataPath, s.handleDiscovery)
}

// handleToken is the token endpoint's dispatcher: transport rules, grant
// type, client authentication and the grant allow-list happen here once;
// the grant's handler does the rest.
func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) {
	resp, cl, err := s.token(r.Context(), w, r)
	allowCORS(w, r, cl)
	if err != nil {
		if cl != nil && cl.refreshCookie && errors.Is(err, errRefreshFailed) {
			s.clearRefreshCookie(w, cl.id)
		}
		s.writeError(w, r, err)
		return
	}
	if cl.refreshCookie && resp.refreshToken != "" {
		s.setRefreshCookie(w, cl.id, resp.refreshToken, resp.refreshExpires)
		resp.refreshToken = ""
	}
	writeTokenResponse(w, resp)
}

func (s *Service) token(ctx context.Context, w http.ResponseWriter, r *http.Request) (*tokenResponse, *client, error) {
	f, err := readForm(w, r)
	if err != nil {
		return nil, nil, err
	}
	gt := f.get("grant_type")
	if gt == "" {
		return nil, nil, errInvalidRequest("grant_type is required")
	}
	// RFC 6749 §5.2, RFC 9700 §2.4: password, implicit, unknown grants and
	// those not served yet are refused before any credential is checked.
	h, ok := s.grantHandlers[gt]
	if !ok {
		return nil, nil, newError(CodeUnsupportedGrantType, http.StatusBadRequest, "the grant type is not supported")
	}
	cl, err := s.authenticateClient(ctx, r, f, tokenPath)
	if err != nil {
		return nil, nil, err
	}
	// A client that authenticated with client_id alone (none) proves
	// nothing, so never gets client_credentials (RFC 6749 §4.4), even if
	// its record lists it: the registry refuses to, the service does not
	// rely on it.
	if !cl.allowsGrant(gt) || (gt == grantClientCredentials && cl.authMethod == authNone) {
		s.record(ctx, ReasonGrantNotAllowed, cl.id, tokenPath, s.cfg.RemoteIP(r))
		return nil, cl, newError(CodeUnauthorizedClient, http.StatusBadRequest, "the client is not registered for this grant type")
	}
	if err := s.spendClientBudget(ctx, cl, tokenPath, s.cfg.RemoteIP(r)); err != nil {
		return nil, cl, err
	}
	if cl.tls.bound {
		// Certificate-bound tokens (RFC 8705 §3): the client authenticated
		// with this certificate, so the token carries its thumbprint.
		if certs := peerCerts(r); len(certs) > 0 {
			ctx = withBoundCert(ctx, authn.CertThumbprint(certs[0]))
		}
	}
	// DPoP (RFC 9449 §5): a valid proof binds what is issued to its key.
	jkt, renewNonce, err := s.tokenProof(ctx, r, cl)
	if err != nil {
		return nil, cl, err
	}
	if jkt != "" {
		ctx = withDPoPKey(ctx, jkt)
	}
	if renewNonce {
		w.Header().Set(headerDPoPNonce, s.dpop.Nonce())
	}
	if gt == grantRefreshToken && cl.refreshCookie {
		rt, err := s.refreshFromCookie(r, cl, f)
		if err != nil {
			return nil, cl, err
		}
		f.set("refresh_token", rt)
	}
	resp, err := h.handle(ctx, cl, f)
	if err == nil {
		s.issued.WithLabelValues(gt).Inc()
	}
	return resp, cl, err
}

// setNoStore sets the caching headers of every token, introspection and
// error response (RFC 6749 §5.1, §5.2, RFC 7662 §2.2).
func setNoStore(h http.Header) {
	h.Set("Cache-Control", headerCacheControlNoStore)
	h.Set("Pragma", headerPragmaNoCache)
}

// writeJSON writes every response body of the service.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) //nolint:gosec // G705: JSON whose strings went through appendJSONString or appendSafe, served as application/json with nosniff
}

// writeTokenResponse writes RFC 6749 §5.1 JSON; a refresh_token only for
// the user grants, never for client_credentials (§4.4.3).
func writeTokenResponse(w http.ResponseWriter, t *tokenResponse) {
	b := make([]byte, 0, len(t.accessToken)+len(t.scope)+80)
	b = append(b, `{"access_token":`...)
	b = appendJSONString(b, t.accessToken)
	if t.dpopBound {
		b = append(b, `,"token_type":"DPoP","expires_in":`...)
	} else {
		b = append(b, `,"token_type":"Bearer","expires_in":`...)
	}
	b = strconv.AppendInt(b, t.expiresIn, 10)
	if t.scope != "" {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, t.scope)
	}
	if t.refreshToken != "" {
		b = append(b, `,"refresh_token":`...)
		b = appendJSONString(b, t.refreshToken)
	}
	if t.idToken != "" {
		b = append(b, `,"id_token":`...)
		b = appendJSONString(b, t.idToken)
	}
	b = append(b, '}')
	setNoStore(w.Header())
	writeJSON(w, http.StatusOK, b)
}
