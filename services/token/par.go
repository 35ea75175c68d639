package token

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// Pushed authorization requests (RFC 9126). The client posts what it would
// have put in the authorization URL, authenticated as at the token
// endpoint; the request is validated as /oauth2/authorize validates it and
// stored in the grant store, and the client sends the browser with
// client_id and the request_uri only.
const (
	// parLifetime is expires_in: how long the client has to send the
	// browser to /oauth2/authorize with the request_uri.
	parLifetime = 60 * time.Second
	// parFormGrace is how much longer the login and consent forms of a
	// request that reached /oauth2/authorize in time may take: the user
	// types a password, the client does not.
	parFormGrace = 10 * time.Minute
	// requestURIPrefix is RFC 9126 §2.2's URN namespace.
	requestURIPrefix = "urn:ietf:params:oauth:request_uri:"
	// maxRequestURILen bounds what is hashed and looked up.
	maxRequestURILen = 128
)

// clientCredentialParams authenticate the client at /oauth2/par and are
// not part of the authorization request stored.
var clientCredentialParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// handlePAR is RFC 9126 §2: 201 with the request_uri, or the error the
// authorization endpoint would have sent the browser, as JSON to the
// client.
func (s *Service) handlePAR(w http.ResponseWriter, r *http.Request) {
	uri, cl, renewNonce, err := s.pushAuthorization(r.Context(), w, r)
	allowCORS(w, r, cl)
	if renewNonce {
		w.Header().Set(headerDPoPNonce, s.dpop.Nonce())
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := make([]byte, 0, 128)
	b = append(b, `{"request_uri":`...)
	b = appendJSONString(b, uri)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, int64(parLifetime/time.Second), 10)
	b = append(b, '}')
	setNoStore(w.Header())
	writeJSON(w, http.StatusCreated, b)
}

func (s *Service) pushAuthorization(ctx context.Context, w http.ResponseWriter, r *http.Request) (string, *client, bool, error) {
	f, err := readForm(w, r)
	if err != nil {
		return "", nil, false, err
	}
	cl, err := s.authenticateClient(ctx, r, f, parPath)
	if err != nil {
		return "", nil, false, err
	}
	// Each push stores a row: the client's budget bounds them, as it
	// bounds its token requests (per address too for a public client).
	if err := s.spendClientBudget(ctx, cl, parPath, s.cfg.RemoteIP(r)); err != nil {
		return "", cl, false, err
	}
	if !cl.allowsGrant(grantAuthorizationCode) {
		s.record(ctx, ReasonGrantNotAllowed, cl.id, parPath, s.cfg.RemoteIP(r))
		return "", cl, false, newError(CodeUnauthorizedClient, http.StatusBadRequest, "the client is not registered for the authorization code grant")
	}
	if f.has("request_uri") {
		return "", cl, false, errInvalidRequest("request_uri cannot be pushed (RFC 9126 section 2.1)")
	}
	// RFC 9449 §10.1: a proof here binds the code to its key, as dpop_jkt
	// does; both must then name the same key.
	jkt, renewNonce, err := s.endpointProof(ctx, r, cl, parPath, false)
	if err != nil {
		return "", cl, false, err
	}
	if jkt != "" {
		if given := f.get("dpop_jkt"); given != "" && given != jkt {
			s.record(ctx, ReasonDPoPBindingMismatch, cl.id, parPath, s.cfg.RemoteIP(r))
			return "", cl, renewNonce, &Error{Code: CodeInvalidDPoPProof, Status: http.StatusBadRequest,
				Description: "dpop_jkt does not name the key of the DPoP proof"}
		}
		f.set("dpop_jkt", jkt)
	}
	for _, p := range clientCredentialParams {
		f.del(p)
	}
	f.set("client_id", cl.id)
	params := f.encode()
	if _, aerr := s.parseAuthorizeAt(ctx, params, stagePush); aerr != nil {
		status := http.StatusBadRequest
		if aerr.code == CodeTemporarilyUnavailable {
			status = http.StatusServiceUnavailable
		}
		return "", cl, renewNonce, newError(aerr.code, status, "%s", aerr.description)
	}
	secret, hash, err := newSecret()
	if err != nil {
		return "", cl, renewNonce, newError(CodeServerError, http.StatusInternalServerError, "internal error")
	}
	now := s.cfg.Now()
	err = s.grants.CreatePushedRequest(ctx, grantstore.PushedRequest{
		Hash: hash, ClientID: cl.id, Params: params, CreatedAt: now, ExpiresAt: now.Add(parLifetime),
	})
	if err != nil {
		s.log.ErrorContext(ctx, "store pushed authorization request", "error", err)
		return "", cl, renewNonce, newError(CodeTemporarilyUnavailable, http.StatusServiceUnavailable, "try again later")
	}
	return requestURIPrefix + secret, cl, renewNonce, nil
}

// resolvePushed is an authorization request by reference (RFC 9126 §4):
// the pushed request of cl that ref names, if it is unused and in time.
// Every other parameter of the request is ignored. The request keeps the
// reference, not the parameters, as what the login and consent forms
// carry, so what comes back from them is the pushed request again.
func (s *Service) resolvePushed(ctx context.Context, cl *client, ref string, stage authzStage) (*authzRequest, *authzError) {
	secret, ok := strings.CutPrefix(ref, requestURIPrefix)
	if !ok || secret == "" || len(ref) > maxRequestURILen {
		return nil, pageError("request_uri is not one this server issued")
	}
	hash := hashSecret(secret)
	p, err := s.grants.GetPushedRequest(ctx, hash)
	if err != nil && !errors.Is(err, grantstore.ErrNotFound) {
		s.log.ErrorContext(ctx, "read pushed authorization request", "error", err)
		return nil, &authzError{code: CodeTemporarilyUnavailable, description: "try again later", page: true}
	}
	deadline := p.ExpiresAt
	if stage == stageForm {
		deadline = deadline.Add(parFormGrace)
	}
	// One answer for every reason: the page does not tell which.
	if err != nil || p.ClientID != cl.id || !p.UsedAt.IsZero() || !s.cfg.Now().Before(deadline) {
		return nil, pageError("request_uri is unknown, expired, already used, or not this client's")
	}
	req, aerr := s.parseAuthorizeAt(ctx, p.Params, stagePushed)
	if req != nil {
		req.raw = "client_id=" + url.QueryEscape(cl.id) + "&request_uri=" + url.QueryEscape(ref)
		req.pushed = hash
	}
	return req, aerr
}

// usePushed spends the request's request_uri as its code is issued: of two
// tabs racing with one request_uri, one gets a code.
func (s *Service) usePushed(ctx context.Context, req *authzRequest) *authzError {
	if req.pushed == nil {
		return nil
	}
	err := s.grants.UsePushedRequest(ctx, req.pushed, s.cfg.Now())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, grantstore.ErrUsed), errors.Is(err, grantstore.ErrNotFound):
		return pageError("request_uri is unknown, expired, already used, or not this client's")
	default:
		s.log.ErrorContext(ctx, "use pushed authorization request", "error", err)
		return &authzError{code: CodeTemporarilyUnavailable, description: "try again later", page: true}
	}
}
