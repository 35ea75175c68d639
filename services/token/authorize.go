package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// Authorization endpoint limits.
const (
	// codeLifetime is FAPI 2.0's maximum (checklist item 50).
	codeLifetime = 60 * time.Second
	// maxAuthorizeQuery bounds the query of an authorization request:
	// longer ones are refused before any lookup.
	maxAuthorizeQuery = 8 << 10
	// maxStateLen allows long state values (checklist item 40 asks for
	// 1000+ characters) but not unbounded ones.
	maxStateLen = 4 << 10
	// secretBytes is the entropy of codes, refresh tokens and session ids:
	// 256 bits (checklist item 61).
	secretBytes = 32
)

// authzRequest is a validated authorization request (RFC 6749 §4.1.1,
// RFC 7636 §4.3).
type authzRequest struct {
	// raw is the request's query, carried through the login and consent
	// forms and validated again when they come back.
	raw         string
	client      *client
	redirectURI string
	// redirectGiven: the request named redirect_uri (it must be repeated
	// at the token endpoint, RFC 6749 §4.1.3).
	redirectGiven bool
	state         string
	scopes        []string
	challenge     string
	// dpopJKT binds the code to a DPoP key (RFC 9449 §10).
	dpopJKT string
	// pushed is the hash of the request_uri of a pushed request (RFC
	// 9126), spent when the code is issued; nil for a request by value.
	pushed []byte

	// OpenID Connect (Core §3.1.2.1).
	// nonce is echoed in the ID token byte for byte.
	nonce string
	// promptNone: never show a page; promptLogin: always show the login
	// form; promptConsent: always ask.
	promptNone, promptLogin, promptConsent bool
	// maxAge, when hasMaxAge, is the oldest sign-in the client accepts:
	// an older session signs in again (0: always).
	maxAge    time.Duration
	hasMaxAge bool
	// loginHint fills the login form's email.
	loginHint string
	// hintSubject is the sub of a valid id_token_hint: only that user's
	// session may be used silently.
	hintSubject string
}

// authzError is a refusal of an authorization request. With a trusted
// redirect URI it goes back to the client (RFC 6749 §4.1.2.1); without
// one (unknown client, unregistered redirect URI) it is an error page and
// never a redirect (checklist items 37, 38).
type authzError struct {
	code, description string
	// page: show an error page instead of redirecting.
	page bool
}

func (e *authzError) Error() string { return e.code + ": " + e.description }

func pageError(description string) *authzError {
	return &authzError{code: CodeInvalidRequest, description: description, page: true}
}

func redirectError(code, description string) *authzError {
	return &authzError{code: code, description: description}
}

// OAuth error codes of the authorization endpoint (RFC 6749 §4.1.2.1).
const (
	codeUnsupportedResponseType = "unsupported_response_type"
	codeAccessDenied            = "access_denied"
	codeLoginRequired           = "login_required"
	// OpenID Connect Core §3.1.2.6.
	codeConsentRequired          = "consent_required"
	codeAccountSelectionRequired = "account_selection_required"
	codeRequestNotSupported      = "request_not_supported"
	codeRequestURINotSupported   = "request_uri_not_supported"
)

// maxMaxAge bounds max_age: a year is more than any session lives.
const maxMaxAge = 365 * 24 * time.Hour

// authzStage is where an authorization request is parsed.
type authzStage int

const (
	// stageFront: at /oauth2/authorize, from the browser.
	stageFront authzStage = iota
	// stageForm: coming back from the login or consent form.
	stageForm
	// stagePush: at /oauth2/par, from the authenticated client.
	stagePush
	// stagePushed: the parameters stored by /oauth2/par.
	stagePushed
)

// parseAuthorize validates an authorization request from the browser.
func (s *Service) parseAuthorize(ctx context.Context, raw string) (*authzRequest, *authzError) {
	return s.parseAuthorizeAt(ctx, raw, stageFront)
}

// parseAuthorizeAt validates an authorization request from its raw query.
// Until the client and redirect URI are known to be good, every problem
// is a page error; after, a redirect error carrying state and iss.
func (s *Service) parseAuthorizeAt(ctx context.Context, raw string, stage authzStage) (*authzRequest, *authzError) {
	if len(raw) > maxAuthorizeQuery {
		return nil, pageError("the authorization request is too large")
	}
	f, err := parseForm(raw)
	if err != nil {
		// A duplicated parameter (checklist item 43) or bad encoding:
		// which redirect_uri to trust is unknown, so no redirect.
		return nil, pageError("the authorization request is malformed: a parameter is repeated or badly encoded")
	}
	req := &authzRequest{raw: raw, state: f.get("state")}
	clientID := f.get("client_id")
	if clientID == "" || len(clientID) > maxClientIDLen {
		return nil, pageError("client_id is missing or invalid")
	}
	cl, aerr := s.pageClient(ctx, clientID)
	if aerr != nil {
		return nil, aerr
	}
	if cl.disabled {
		return nil, pageError("unknown client")
	}
	if stage == stageFront || stage == stageForm {
		// Only this server's URNs are resolved; a URL to fetch a request
		// object from is refused as unsupported (parseOIDC).
		if ref := f.get("request_uri"); strings.HasPrefix(ref, requestURIPrefix) {
			return s.resolvePushed(ctx, cl, ref, stage)
		}
		if s.cfg.RequirePAR || cl.requirePAR {
			// RFC 9126 §5, §6: the parameters came through the browser,
			// unauthenticated; the client has to push them.
			return nil, pageError("this client must push its authorization requests to the pushed authorization request endpoint (RFC 9126)")
		}
	}
	req.client = cl
	switch given := f.get("redirect_uri"); {
	case given != "":
		uri, ok := matchRedirect(cl.redirectURIs, given)
		if !ok {
			return nil, pageError("redirect_uri is not registered for this client")
		}
		req.redirectURI, req.redirectGiven = uri, true
	case len(cl.redirectURIs) == 1:
		req.redirectURI = cl.redirectURIs[0]
	default:
		return nil, pageError("redirect_uri is required: the client has several")
	}
	// From here on, errors go back to the client's redirect URI.
	if len(req.state) > maxStateLen {
		req.state = ""
		return req, redirectError(CodeInvalidRequest, "state is too long")
	}
	switch rt := f.get("response_type"); rt {
	case "code":
	case "":
		return req, redirectError(CodeInvalidRequest, "response_type is required")
	default:
		// token, id_token token, ...: never a token in the front channel
		// (RFC 9700 §2.1.2, checklist item 39).
		return req, redirectError(codeUnsupportedResponseType, "only response_type=code is supported")
	}
	if !cl.allowsGrant(grantAuthorizationCode) {
		return req, redirectError(CodeUnauthorizedClient, "the client is not registered for the authorization code grant")
	}
	// PKCE for every client, S256 only (checklist items 35, 36).
	method, challenge := f.get("code_challenge_method"), f.get("code_challenge")
	switch {
	case challenge == "":
		return req, redirectError(CodeInvalidRequest, "code_challenge is required (PKCE)")
	case method == "":
		return req, redirectError(CodeInvalidRequest, "code_challenge_method is required and must be S256")
	case method != pkceMethodS256:
		return req, redirectError(CodeInvalidRequest, "code_challenge_method must be S256")
	case !validChallenge(challenge):
		return req, redirectError(CodeInvalidRequest, "code_challenge must be 43 base64url characters")
	}
	req.challenge = challenge
	if jkt := f.get("dpop_jkt"); jkt != "" {
		if !validJKT(jkt) {
			return req, redirectError(CodeInvalidRequest, "dpop_jkt must be a JWK SHA-256 thumbprint (RFC 9449 section 10)")
		}
		req.dpopJKT = jkt
	}
	scopes, perr := parseScope(f.get("scope"))
	if perr != nil {
		return req, redirectError(CodeInvalidScope, "the scope parameter is malformed")
	}
	scopes = slices.DeleteFunc(scopes, func(sc string) bool { return slices.Contains(ignoredScopes, sc) })
	if len(scopes) == 0 {
		scopes = cl.scopes
	}
	for _, sc := range scopes {
		if !cl.allowsScopeOIDC(sc) {
			return req, redirectError(CodeInvalidScope, "a requested scope is not allowed to the client")
		}
	}
	req.scopes = slices.Clone(scopes)
	if aerr := s.parseOIDC(ctx, f, req); aerr != nil {
		return req, aerr
	}
	return req, nil
}

// parseOIDC reads the OpenID Connect parameters of an authorization
// request (Core §3.1.2.1), refusing what is not supported rather than
// ignoring it (Core §3.1.2.6, §6).
func (s *Service) parseOIDC(ctx context.Context, f *form, req *authzRequest) *authzError {
	switch {
	case f.has("request"):
		return redirectError(codeRequestNotSupported, "request objects are not supported")
	case f.has("request_uri"):
		// Only at /oauth2/authorize, and only one from /oauth2/par.
		return redirectError(codeRequestURINotSupported, "request_uri is supported only as issued by the pushed authorization request endpoint")
	case f.has("claims"):
		return redirectError(CodeInvalidRequest, "the claims parameter is not supported: the profile and email scopes ask for claims")
	}
	switch f.get("response_mode") {
	case "", "query":
	default:
		// Codes never travel in a fragment or a posted form here.
		return redirectError(CodeInvalidRequest, "response_mode must be query")
	}
	req.nonce = f.get("nonce")
	if len(req.nonce) > maxNonceLen || !database.Storable(req.nonce) {
		return redirectError(CodeInvalidRequest, "nonce is too long or not valid UTF-8")
	}
	for p := range strings.FieldsSeq(f.get("prompt")) {
		switch p {
		case "none":
			req.promptNone = true
		case "login":
			req.promptLogin = true
		case "consent":
			req.promptConsent = true
		case "select_account":
			// One account per session: there is nothing to choose from.
			return redirectError(codeAccountSelectionRequired, "selecting an account is not supported")
		default:
			return redirectError(CodeInvalidRequest, "prompt must be none, login, consent or select_account")
		}
	}
	if req.promptNone && (req.promptLogin || req.promptConsent) {
		return redirectError(CodeInvalidRequest, "prompt=none cannot be combined with another value")
	}
	if v := f.get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxMaxAge {
			return redirectError(CodeInvalidRequest, "max_age must be a number of seconds")
		}
		req.maxAge, req.hasMaxAge = time.Duration(n)*time.Second, true
	}
	if h := strings.TrimSpace(f.get("login_hint")); len(h) <= maxEmailLen && database.Storable(h) {
		req.loginHint = h
	}
	if h := f.get("id_token_hint"); h != "" {
		claims, err := s.verifyIDTokenHint(ctx, h, false)
		if err != nil {
			return redirectError(CodeInvalidRequest, "id_token_hint is not a valid ID token of this server")
		}
		req.hintSubject = claims.Sub
	}
	return nil
}

// needsLogin says whether sess is not good enough for req: none, one of
// another user than id_token_hint names, one older than max_age, or
// prompt=login.
func (req *authzRequest) needsLogin(sess *grantstore.Session, now time.Time) bool {
	switch {
	case sess == nil, req.promptLogin:
		return true
	case req.hintSubject != "" && req.hintSubject != sess.UserID:
		return true
	case req.hasMaxAge && (req.maxAge == 0 || now.Sub(sess.AuthTime) > req.maxAge):
		return true
	}
	return false
}

// pageClient looks up the client a browser-facing request names: an unknown
// one is an error page, a registry that cannot answer one too (503).
func (s *Service) pageClient(ctx context.Context, clientID string) (*client, *authzError) {
	cl, err := s.publicClient(ctx, clientID)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == CodeInvalidClient {
			return nil, pageError("unknown client")
		}
		return nil, &authzError{code: CodeTemporarilyUnavailable, description: "try again later", page: true}
	}
	return cl, nil
}

// redirectTo sends the authorization response to the client: 303 (never
// 307, which would resend a login form's body: checklist item 41), with
// state unchanged and iss (RFC 9207) on success and on error alike.
func (s *Service) redirectTo(w http.ResponseWriter, r *http.Request, req *authzRequest, params url.Values) {
	if req.state != "" {
		params.Set("state", req.state)
	}
	params.Set("iss", s.cfg.Issuer)
	target := req.redirectURI
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	setPageHeaders(w.Header())
	http.Redirect(w, r, target+sep+params.Encode(), http.StatusSeeOther) //nolint:gosec // G710: target is a redirect URI registered for the client, matched by exact string (matchRedirect)
}

// fail answers a refused authorization request.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, req *authzRequest, e *authzError) {
	if e.page || req == nil {
		status := http.StatusBadRequest
		if e.code == CodeTemporarilyUnavailable {
			status = http.StatusServiceUnavailable
		}
		s.renderError(w, status, e.description)
		return
	}
	s.redirectTo(w, r, req, url.Values{"error": {e.code}, "error_description": {e.description}})
}

// handleAuthorize is RFC 6749 §4.1.1: GET with the request in the query,
// or POST with it in a form body (OpenID Connect Core §3.1.2.1).
// With a live session the code is issued at once (after consent for a
// third-party client); otherwise the login page is shown.
func (s *Service) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		// OpenID Connect Core §3.1.2.1: the request may also be a POST of
		// the same parameters, form-encoded; the query must then be empty.
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); raw != "" || err != nil || mt != contentTypeFormURLEncoded || r.ContentLength > maxAuthorizeQuery {
			s.renderError(w, http.StatusBadRequest, "a POST authorization request carries its parameters in a form-encoded body only")
			return
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAuthorizeQuery+1))
		if err != nil {
			s.renderError(w, http.StatusBadRequest, "the authorization request is too large")
			return
		}
		raw = string(b)
	}
	req, aerr := s.parseAuthorize(ctx, raw)
	if aerr != nil {
		s.fail(w, r, req, aerr)
		return
	}
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		s.fail(w, r, nil, &authzError{code: CodeTemporarilyUnavailable, description: "try again later", page: true})
		return
	}
	if req.needsLogin(sess, s.cfg.Now()) {
		if req.promptNone {
			s.fail(w, r, req, redirectError(codeLoginRequired, "the user is not signed in, or must sign in again"))
			return
		}
		s.renderLogin(w, r, req, "", http.StatusOK)
		return
	}
	s.afterLogin(w, r, req, sess)
}

// afterLogin goes on with a request whose user is signed in well enough:
// to the consent page, or straight to the code. The login form comes here
// directly, not through the authorization endpoint again, where
// prompt=login or max_age=0 would ask for yet another sign-in.
func (s *Service) afterLogin(w http.ResponseWriter, r *http.Request, req *authzRequest, sess *grantstore.Session) {
	if s.needsConsent(req) {
		if req.promptNone {
			s.fail(w, r, req, redirectError(codeConsentRequired, "the client needs the user's consent"))
			return
		}
		s.renderConsent(w, r, req)
		return
	}
	s.issueCode(w, r, req, sess)
}

// needsConsent: first-party clients skip consent unless registered to ask;
// a third-party client always asks (its use of this flow is allowed only
// when registered so).
func (s *Service) needsConsent(req *authzRequest) bool {
	return !req.client.firstParty || req.client.requireConsent || req.promptConsent
}

// issueCode stores a new code for the signed-in user and redirects with
// it. The code is 256 random bits, stored only as its SHA-256, single use,
// valid 60 s, and bound to the client, redirect URI, challenge, user,
// scopes and auth time (RFC 6749 §4.1.2).
func (s *Service) issueCode(w http.ResponseWriter, r *http.Request, req *authzRequest, sess *grantstore.Session) {
	code, hash, err := newSecret()
	if err != nil {
		s.fail(w, r, req, redirectError(CodeServerError, "internal error"))
		return
	}
	familyID, err := newFamilyID()
	if err != nil {
		s.fail(w, r, req, redirectError(CodeServerError, "internal error"))
		return
	}
	if aerr := s.usePushed(r.Context(), req); aerr != nil {
		s.fail(w, r, req, aerr)
		return
	}
	now := s.cfg.Now()
	redirect := req.redirectURI
	if !req.redirectGiven {
		redirect = ""
	}
	err = s.grants.CreateCode(r.Context(), grantstore.Code{
		Hash: hash, ClientID: req.client.id, RedirectURI: redirect, Challenge: req.challenge,
		UserID: sess.UserID, Scopes: req.scopes, FamilyID: familyID,
		AuthTime: sess.AuthTime, CreatedAt: now, ExpiresAt: now.Add(codeLifetime),
		Nonce: req.nonce, SessionID: sessionID(sess.Hash), DPoPJKT: req.dpopJKT,
	})
	if err != nil {
		s.log.ErrorContext(r.Context(), "store authorization code", "error", err)
		s.fail(w, r, req, redirectError(CodeTemporarilyUnavailable, "try again later"))
		return
	}
	s.redirectTo(w, r, req, url.Values{"code": {code}})
}

// newSecret returns 256 random bits as base64url and their SHA-256, the
// only form in which codes, refresh tokens and session ids are stored.
func newSecret() (string, []byte, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("token: read random: %w", err)
	}
	s := base64.RawURLEncoding.EncodeToString(b[:])
	return s, hashSecret(s), nil
}

func hashSecret(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// newFamilyID names a grant: "g_" and 128 random bits.
func newFamilyID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token: read random: %w", err)
	}
	return "g_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
