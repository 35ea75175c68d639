package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

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
	prompt        string
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
)

// parseAuthorize validates an authorization request from its raw query.
// Until the client and redirect URI are known to be good, every problem
// is a page error; after, a redirect error carrying state and iss.
func (s *Service) parseAuthorize(ctx context.Context, raw string) (*authzRequest, *authzError) {
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
	cl, err := s.publicClient(ctx, clientID)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == CodeInvalidClient {
			return nil, pageError("unknown client")
		}
		return nil, &authzError{code: CodeTemporarilyUnavailable, description: "try again later", page: true}
	}
	if cl.disabled {
		return nil, pageError("unknown client")
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
	scopes, perr := parseScope(f.get("scope"))
	if perr != nil {
		return req, redirectError(CodeInvalidScope, "the scope parameter is malformed")
	}
	if len(scopes) == 0 {
		scopes = cl.scopes
	}
	for _, sc := range scopes {
		if !cl.allowsScope(sc) {
			return req, redirectError(CodeInvalidScope, "a requested scope is not allowed to the client")
		}
	}
	req.scopes = slices.Clone(scopes)
	switch p := f.get("prompt"); p {
	case "", "login", "consent", "none":
		req.prompt = p
	default:
		return req, redirectError(CodeInvalidRequest, "prompt must be none, login or consent")
	}
	return req, nil
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

// handleAuthorize is RFC 6749 §4.1.1: GET with the request in the query.
// With a live session the code is issued at once (after consent for a
// third-party client); otherwise the login page is shown.
func (s *Service) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, aerr := s.parseAuthorize(ctx, r.URL.RawQuery)
	if aerr != nil {
		s.fail(w, r, req, aerr)
		return
	}
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		s.fail(w, r, nil, &authzError{code: CodeTemporarilyUnavailable, description: "try again later", page: true})
		return
	}
	switch {
	case sess == nil && req.prompt == "none":
		s.fail(w, r, req, redirectError(codeLoginRequired, "the user is not signed in"))
		return
	case sess == nil || req.prompt == "login":
		s.renderLogin(w, r, req, "", http.StatusOK)
		return
	}
	if s.needsConsent(req) {
		if req.prompt == "none" {
			s.fail(w, r, req, redirectError("consent_required", "the client needs the user's consent"))
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
	return !req.client.firstParty || req.client.requireConsent || req.prompt == "consent"
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
	now := s.cfg.Now()
	redirect := req.redirectURI
	if !req.redirectGiven {
		redirect = ""
	}
	err = s.grants.CreateCode(r.Context(), grantstore.Code{
		Hash: hash, ClientID: req.client.id, RedirectURI: redirect, Challenge: req.challenge,
		UserID: sess.UserID, Scopes: req.scopes, FamilyID: familyID,
		AuthTime: sess.AuthTime, CreatedAt: now, ExpiresAt: now.Add(codeLifetime),
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
