package token

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// Audit reasons of the sign-in pages.
const (
	// ReasonLoginFailed: a wrong email or password, or a disabled user
	// (the page does not say which).
	ReasonLoginFailed = audit.ReasonLoginFailed
	// ReasonCSRF: a login, consent or sign-out form without the CSRF
	// token of its page, or from a foreign origin.
	ReasonCSRF = audit.ReasonCSRF
)

const (
	loginPath   = "/oauth2/login"
	consentPath = "/oauth2/consent"
	logoutPath  = "/oauth2/logout"
	staticPath  = "/oauth2/static/gatehouse.css"
	// loginKeyPrefix keys a login's per-account failure budget, apart from
	// client ids in the same failure gate.
	loginKeyPrefix = "login:"
	maxEmailLen    = 254
	maxPasswordLen = 1024
)

//go:embed web/*.html web/gatehouse.css
var webFS embed.FS

var pages = template.Must(template.ParseFS(webFS, "web/*.html"))

// ErrInvalidLogin is what Users.Authenticate returns for a wrong email or
// password or a disabled user; any other error means it could not decide.
var ErrInvalidLogin = errors.New("token: invalid email or password")

// User is a signed-in user.
type User struct {
	ID    string
	Email string
}

// Users checks users' passwords for the login page, and tells what the ID
// token and UserInfo may say of a user. The user service implements it in
// process.
type Users interface {
	Authenticate(ctx context.Context, email, password string) (User, error)
	// Claims returns the user's claims; ErrUnknownUser when there is no
	// such user.
	Claims(ctx context.Context, userID string) (UserClaims, error)
}

// pageData is what the templates show.
type pageData struct {
	Title, Base, Message, CSRF, Authz, ClientName, Email string
	Scopes                                               []string
}

// setPageHeaders sets the headers of every page and redirect of the
// browser-facing endpoints (checklist item 42): no framing, no inline
// script or style, no referrer leaking the query, no caching.
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

func (s *Service) render(w http.ResponseWriter, name string, status int, d pageData) {
	d.Base = issuerPath(s.cfg.Issuer)
	setPageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, d); err != nil {
		s.log.Error("render page", "page", name, "error", err)
	}
}

func (s *Service) renderError(w http.ResponseWriter, status int, message string) {
	s.render(w, "error.html", status, pageData{Title: "Cannot sign in", Message: message})
}

func (s *Service) renderLogin(w http.ResponseWriter, r *http.Request, req *authzRequest, message string, status int) {
	s.renderLoginAs(w, r, req, message, req.loginHint, status)
}

func (s *Service) renderLoginAs(w http.ResponseWriter, r *http.Request, req *authzRequest, message, email string, status int) {
	s.render(w, "login.html", status, pageData{
		Title: "Sign in", Message: message, CSRF: s.csrfToken(w, r), Authz: req.raw,
		ClientName: req.client.name, Email: email,
	})
}

func (s *Service) renderConsent(w http.ResponseWriter, r *http.Request, req *authzRequest) {
	s.render(w, "consent.html", http.StatusOK, pageData{
		Title: "Allow access?", CSRF: s.csrfToken(w, r), Authz: req.raw,
		ClientName: req.client.name, Scopes: req.scopes,
	})
}

func (s *Service) handleStatic(w http.ResponseWriter, _ *http.Request) {
	b, err := webFS.ReadFile("web/gatehouse.css")
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}

// secureCookies: cookies get Secure and the __Host- prefix whenever the
// issuer is https; a plain-http loopback issuer (development) cannot set
// them, and the names say so.
func (s *Service) secureCookies() bool { return strings.HasPrefix(s.cfg.Issuer, "https://") }

func (s *Service) cookieName(base string) string {
	if s.secureCookies() {
		return "__Host-gatehouse_" + base
	}
	return "gatehouse_dev_" + base
}

// csrfToken returns the page's CSRF token: the value of a SameSite=Strict
// cookie, set now if absent, which the form must send back (double
// submit; a foreign page can neither read the cookie nor make the browser
// send it).
func (s *Service) csrfToken(w http.ResponseWriter, r *http.Request) string {
	name := s.cookieName("csrf")
	if c, err := r.Cookie(name); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	tok, _, err := newSecret()
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: Secure whenever the issuer is https; only a plain-http loopback issuer (development) goes without
		Name: name, Value: tok, Path: "/", HttpOnly: true, Secure: s.secureCookies(),
		SameSite: http.SameSiteStrictMode,
	})
	return tok
}

// checkCSRF refuses a form whose token does not match its cookie, or that
// names another origin than the issuer's. Our pages' Referrer-Policy
// no-referrer makes browsers send "Origin: null" with their own forms, so
// null passes here: the SameSite=Strict double-submit token is what a
// foreign page cannot produce.
func (s *Service) checkCSRF(r *http.Request, f *form) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != issuerOrigin(s.cfg.Issuer) {
		return false
	}
	c, err := r.Cookie(s.cookieName("csrf"))
	if err != nil || c.Value == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(f.get("csrf"))) == 1
}

// issuerOrigin is scheme://host[:port] of the issuer.
func issuerOrigin(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// currentSession returns the signed-in user's live session, or nil.
func (s *Service) currentSession(ctx context.Context, r *http.Request) (*grantstore.Session, error) {
	c, err := r.Cookie(s.cookieName("session"))
	if err != nil || len(c.Value) != 43 {
		return nil, nil //nolint:nilerr // no cookie: not signed in
	}
	sess, err := s.grants.GetSession(ctx, hashSecret(c.Value))
	switch {
	case errors.Is(err, grantstore.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case !sess.RevokedAt.IsZero() || !s.cfg.Now().Before(sess.ExpiresAt):
		return nil, nil
	}
	return &sess, nil
}

// handleLogin checks the login form: CSRF, the failure budgets (per
// account and per address, checked before the password), the password.
// Success starts a session and goes back to the authorization request.
func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ip := s.cfg.RemoteIP(r)
	f, err := readForm(w, r)
	if err != nil {
		s.renderError(w, http.StatusBadRequest, "the sign-in form is malformed")
		return
	}
	if !s.checkCSRF(r, f) {
		s.record(ctx, ReasonCSRF, "", loginPath, ip)
		s.renderError(w, http.StatusForbidden, "the sign-in form expired or came from another site; start again from the application")
		return
	}
	req, aerr := s.parseAuthorizeAt(ctx, f.get("authz"), stageForm)
	if aerr != nil {
		s.fail(w, r, req, aerr)
		return
	}
	email := strings.ToLower(strings.TrimSpace(f.get("email")))
	password := f.get("password")
	if email == "" || password == "" || len(email) > maxEmailLen || len(password) > maxPasswordLen {
		s.renderLoginAs(w, r, req, "Enter your email and password.", "", http.StatusBadRequest)
		return
	}
	account := loginKeyPrefix + email
	now := s.cfg.Now()
	// The failing source is slowed and then refused, never the account
	// (failures.go): a browser with the account's device cookie, or an
	// address that has not failed lately, still gets its password checked
	// while strangers spend the account's budget.
	source := ip
	device := s.deviceCookieFor(r, email)
	if device != "" {
		source = "device:" + device
	}
	d := s.failures.check(account, source, now)
	wait := d.wait
	if device == "" {
		switch {
		case d.addressBlocked:
			// A password check costs an argon2id hash: an address over
			// its budget gets none.
			wait = max(wait, s.failures.addressWait(ip, now))
		case d.credentialBlocked && d.addressFailed:
			wait = max(wait, s.failures.credentialWait(account, now))
		}
	}
	if wait > 0 {
		s.record(ctx, audit.ReasonTooManyFailures, "", loginPath, ip)
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(wait), 10))
		s.renderLoginAs(w, r, req, "Too many failed attempts. Wait a moment and try again.", email, http.StatusTooManyRequests)
		return
	}
	class := checkFresh
	switch {
	case device != "":
		class = checkDevice
	case d.addressFailed:
		class = checkFailed
	}
	release, err := s.checks.acquire(ctx, class)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		// Not the caller's failure: no budget is spent.
		s.record(ctx, audit.ReasonRateLimited, "", loginPath, ip)
		w.Header().Set("Retry-After", "2")
		s.renderLoginAs(w, r, req, "Sign-in is busy. Wait a moment and try again.", email, http.StatusServiceUnavailable)
		return
	}
	u, err := s.users.Authenticate(ctx, email, password)
	release()
	switch {
	case errors.Is(err, ErrInvalidLogin):
		s.record(ctx, ReasonLoginFailed, req.client.id, loginPath, ip)
		status := http.StatusUnauthorized
		if wait, over := s.failures.fail(account, source, now); over {
			w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(wait), 10))
			status = http.StatusTooManyRequests
		}
		if d.addressFailed {
			// A source failing again waits for its answer.
			select {
			case <-ctx.Done():
			case <-time.After(s.cfg.LoginFailureDelay):
			}
		}
		// One message for every refusal: no account enumeration.
		s.renderLoginAs(w, r, req, "The email or password is incorrect.", email, status)
		return
	case err != nil:
		s.log.ErrorContext(ctx, "authenticate user", "error", err)
		s.renderError(w, http.StatusServiceUnavailable, "sign-in is temporarily unavailable; try again later")
		return
	}
	s.setDeviceCookie(w, email, now)
	sess, err := s.signedIn(ctx, w, r, u, now)
	if err != nil {
		s.log.ErrorContext(ctx, "start session", "error", err)
		s.renderError(w, http.StatusServiceUnavailable, "sign-in is temporarily unavailable; try again later")
		return
	}
	s.afterLogin(w, r, req, sess)
}

// signedIn records a successful sign-in. A browser that already has a
// session of the same user (prompt=login, max_age) keeps it, with its sid
// and its grants, and only its auth_time moves, as Keycloak keeps the user
// session: a later logout then ends everything signed in here. A session
// of another user is ended first, as a logout would end it, and a new one
// starts.
func (s *Service) signedIn(ctx context.Context, w http.ResponseWriter, r *http.Request, u User, now time.Time) (*grantstore.Session, error) {
	cur, err := s.currentSession(ctx, r)
	if err != nil {
		return nil, err
	}
	if cur != nil && cur.UserID == u.ID {
		err := s.grants.ReauthenticateSession(ctx, cur.Hash, now)
		if err == nil {
			cur.AuthTime = now
			return cur, nil
		}
		if !errors.Is(err, grantstore.ErrNotFound) {
			return nil, err
		}
		// Revoked or expired meanwhile: a new session.
	} else if cur != nil {
		s.endSession(ctx, w, cur)
	}
	return s.startSession(ctx, w, u, now)
}

// startSession stores a new session and sets its cookie: HttpOnly,
// SameSite=Lax (the redirect back from a client's page must carry it),
// Secure and __Host- whenever the issuer is https.
func (s *Service) startSession(ctx context.Context, w http.ResponseWriter, u User, now time.Time) (*grantstore.Session, error) {
	id, hash, err := newSecret()
	if err != nil {
		return nil, err
	}
	sess := grantstore.Session{Hash: hash, UserID: u.ID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionLifetime)}
	if err := s.grants.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: Secure whenever the issuer is https; only a plain-http loopback issuer (development) goes without
		Name: s.cookieName("session"), Value: id, Path: "/", Expires: sess.ExpiresAt, HttpOnly: true,
		Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
	return &sess, nil
}

// handleConsent records the user's decision on the consent page.
func (s *Service) handleConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, err := readForm(w, r)
	if err != nil {
		s.renderError(w, http.StatusBadRequest, "the consent form is malformed")
		return
	}
	if !s.checkCSRF(r, f) {
		s.record(ctx, ReasonCSRF, "", consentPath, s.cfg.RemoteIP(r))
		s.renderError(w, http.StatusForbidden, "the consent form expired or came from another site; start again from the application")
		return
	}
	req, aerr := s.parseAuthorizeAt(ctx, f.get("authz"), stageForm)
	if aerr != nil {
		s.fail(w, r, req, aerr)
		return
	}
	sess, err := s.currentSession(ctx, r)
	switch {
	case err != nil:
		s.renderError(w, http.StatusServiceUnavailable, "try again later")
		return
	case sess == nil:
		s.renderLogin(w, r, req, "", http.StatusOK)
		return
	}
	if f.get("decision") != "allow" {
		s.fail(w, r, req, redirectError(codeAccessDenied, "the user denied the request"))
		return
	}
	s.issueCode(w, r, req, sess)
}
