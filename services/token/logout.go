package token

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// logoutParams are the parameters of an RP-initiated logout request
// (OpenID Connect RP-Initiated Logout 1.0 §2), carried through the
// confirmation page.
var logoutParams = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "logout_hint", "ui_locales"}

// logoutRequest is a validated logout request.
type logoutRequest struct {
	// raw is the request's parameters, for the confirmation form.
	raw string
	// client is the relying party, named by the hint's aud or client_id;
	// nil when the request named none.
	client *client
	// redirect is the registered post_logout_redirect_uri to go back to,
	// empty when there is none.
	redirect string
	state    string
	// hint is the id_token_hint's claims, nil without one.
	hint *idHint
}

// parseLogout validates a logout request. Every problem is an error page:
// without a client and a registered URI there is nowhere safe to send the
// user back to (§2, §3).
func (s *Service) parseLogout(ctx context.Context, raw string) (*logoutRequest, *authzError) {
	if len(raw) > maxAuthorizeQuery {
		return nil, pageError("the logout request is too large")
	}
	f, err := parseForm(raw)
	if err != nil {
		return nil, pageError("the logout request is malformed: a parameter is repeated or badly encoded")
	}
	req := &logoutRequest{state: f.get("state")}
	v := url.Values{}
	for _, name := range logoutParams {
		if x := f.get(name); x != "" {
			v.Set(name, x)
		}
	}
	req.raw = v.Encode()
	if len(req.state) > maxStateLen {
		return nil, pageError("state is too long")
	}
	clientID := f.get("client_id")
	if h := f.get("id_token_hint"); h != "" {
		// An expired ID token still names the session and client (§2).
		c, err := s.verifyIDTokenHint(ctx, h, true)
		if err != nil {
			return nil, pageError("id_token_hint is not a valid ID token of this server")
		}
		req.hint = &c
		switch {
		case clientID == "" && len(c.Aud) == 1:
			clientID = c.Aud[0]
		case !slices.Contains(c.Aud, clientID):
			return nil, pageError("client_id is not an audience of id_token_hint")
		}
	}
	if clientID != "" {
		if len(clientID) > maxClientIDLen {
			return nil, pageError("client_id is invalid")
		}
		cl, aerr := s.pageClient(ctx, clientID)
		if aerr != nil {
			return nil, aerr
		}
		req.client = cl
	}
	if uri := f.get("post_logout_redirect_uri"); uri != "" {
		// Exact match with a URI registered for the client (§3.1).
		if req.client == nil || !slices.Contains(req.client.postLogoutRedirectURIs, uri) {
			return nil, pageError("post_logout_redirect_uri is not registered for the client")
		}
		req.redirect = uri
	}
	return req, nil
}

// handleEndSession is the end_session_endpoint (RP-Initiated Logout §2),
// GET or POST, and the sign-out page. A request whose id_token_hint names
// the current session ends it at once; any other asks the user first on a
// page whose form (CSRF-protected) comes back here.
func (s *Service) handleEndSession(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		f, err := readForm(w, r)
		if err != nil {
			s.renderError(w, http.StatusBadRequest, "the sign-out form is malformed")
			return
		}
		if f.has("csrf") {
			s.handleLogoutConfirmed(w, r, f)
			return
		}
		// A relying party's POST (§2): parseLogout keeps only the logout
		// parameters of the body.
		raw = f.encode()
	}
	s.endSessionRequest(w, r, raw, false)
}

// handleLogoutConfirmed is the user's answer on the sign-out page.
func (s *Service) handleLogoutConfirmed(w http.ResponseWriter, r *http.Request, f *form) {
	if !s.checkCSRF(r, f) {
		s.record(r.Context(), ReasonCSRF, "", logoutPath, s.cfg.RemoteIP(r))
		s.renderError(w, http.StatusForbidden, "the sign-out form expired or came from another site")
		return
	}
	s.endSessionRequest(w, r, f.get("logout"), true)
}

// endSessionRequest answers a logout request whose parameters are raw:
// the session ends when the user confirmed on the sign-out page or the
// relying party proved it knows this session (its id_token_hint names the
// session's user and sid, §2); otherwise the user is asked.
func (s *Service) endSessionRequest(w http.ResponseWriter, r *http.Request, raw string, confirmed bool) {
	ctx := r.Context()
	req, aerr := s.parseLogout(ctx, raw)
	if aerr != nil {
		s.failLogout(w, aerr)
		return
	}
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		s.renderError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	known := req.hint != nil && sess != nil && req.hint.Sub == sess.UserID && (req.hint.Sid == "" || req.hint.Sid == sessionID(sess.Hash))
	switch {
	case sess == nil:
		// Nothing to end: the user is already signed out here.
		s.loggedOut(w, r, req)
	case confirmed || known:
		s.endSession(ctx, w, sess)
		s.loggedOut(w, r, req)
	default:
		s.renderLogoutPage(w, r, req)
	}
}

func (s *Service) failLogout(w http.ResponseWriter, e *authzError) {
	status := http.StatusBadRequest
	if e.code == CodeTemporarilyUnavailable {
		status = http.StatusServiceUnavailable
	}
	s.render(w, "error.html", status, pageData{Title: "Cannot sign out", Message: e.description})
}

func (s *Service) renderLogoutPage(w http.ResponseWriter, r *http.Request, req *logoutRequest) {
	d := pageData{Title: "Sign out", CSRF: s.csrfToken(w, r), Authz: req.raw}
	if req.client != nil {
		d.ClientName = req.client.name
	}
	s.render(w, "logout.html", http.StatusOK, d)
}

// loggedOut ends the request: back to the relying party's registered
// post-logout URI with its state (§3), or the signed-out page. The session
// cookie is cleared either way.
func (s *Service) loggedOut(w http.ResponseWriter, r *http.Request, req *logoutRequest) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName("session"), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, //nolint:gosec // G124: Secure whenever the issuer is https; only a plain-http loopback issuer (development) goes without
		Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
	if req.redirect == "" {
		s.render(w, "signedout.html", http.StatusOK, pageData{Title: "Signed out"})
		return
	}
	target := req.redirect
	if req.state != "" {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + url.Values{"state": {req.state}}.Encode()
	}
	setPageHeaders(w.Header())
	http.Redirect(w, r, target, http.StatusSeeOther) //nolint:gosec // G710: a post_logout_redirect_uri registered for the client, matched exactly (parseLogout)
}

// endSession ends a login session: the session itself, the grants made in
// it (their refresh tokens, and through the revocation list their access
// tokens), and, without waiting for them, a back-channel logout to every
// client that had one of those grants and registered a URI for it.
func (s *Service) endSession(ctx context.Context, w http.ResponseWriter, sess *grantstore.Session) {
	now := s.cfg.Now()
	if err := s.grants.RevokeSession(ctx, sess.Hash, now); err != nil && !errors.Is(err, grantstore.ErrNotFound) {
		s.log.ErrorContext(ctx, "revoke session at sign-out", "error", err)
	}
	sid := sessionID(sess.Hash)
	fams, err := s.grants.RevokeSessionFamilies(ctx, sid, "signed out", now, now)
	if err != nil {
		s.log.ErrorContext(ctx, "revoke the session's grants at sign-out", "error", err)
	}
	var errs []error
	clients := map[string]bool{}
	for _, f := range fams {
		errs = append(errs, s.publishFamilyRevocation(ctx, f.ID, "signed out", now))
		clients[f.ClientID] = true
	}
	if err := errors.Join(errs...); err != nil {
		s.log.ErrorContext(ctx, "publish the revocations of a sign-out", "error", err)
	}
	for id := range clients {
		s.notifyLogout(ctx, id, sess.UserID, sid, now)
	}
}

// notifyLogout queues a back-channel logout token for the client, if it
// registered a URI for it.
func (s *Service) notifyLogout(ctx context.Context, clientID, sub, sid string, now time.Time) {
	cl, err := s.publicClient(ctx, clientID)
	if err != nil || cl.backchannelLogoutURI == "" {
		return
	}
	s.backchannel.send(cl.id, cl.backchannelLogoutURI, sub, sid, now)
}
