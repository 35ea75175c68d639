package clients

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
)

// Grant types the registry accepts. The implicit and password grants are
// deliberately absent (RFC 9700 §2.1.2, §2.4).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
)

// Token endpoint authentication methods (RFC 7591 §2, RFC 8705 §2).
const (
	AuthNone                 = "none"
	AuthSecretBasic          = "client_secret_basic"
	AuthSecretPost           = "client_secret_post"
	AuthTLSClient            = "tls_client_auth"
	AuthSelfSignedTLSClient  = "self_signed_tls_client_auth"
	defaultAccessTokenTTL    = 10 * time.Minute
	firstPartyMinAccessToken = 5 * time.Minute
	firstPartyMaxAccessToken = 15 * time.Minute
	thirdPartyMaxAccessToken = 60 * time.Minute
	minAccessTokenLifetime   = time.Minute
)

// Refresh-token deliveries (Client.RefreshTokenDelivery): how the token
// service hands a client its refresh tokens.
const (
	// RefreshTokenDeliveryBody: in the token response's JSON body (RFC 6749
	// §5.1), for mobile and native apps. The default for clients with the
	// refresh_token grant.
	RefreshTokenDeliveryBody = "body"
	// RefreshTokenDeliveryCookie: as an HttpOnly, SameSite=Strict cookie,
	// never in the body; refresh and revocation requests carry no token and
	// must come from one of the client's redirect-URI origins. For browser
	// SPAs: public first-party clients with an http(s) redirect URI.
	RefreshTokenDeliveryCookie = "cookie"
)

// The bounds of Client.IDTokenLifetime when set; zero (unset) is the token
// service's default.
const (
	minIDTokenLifetime = time.Minute
	maxIDTokenLifetime = 60 * time.Minute
)

// maxPostLogoutRedirectURIs bounds a client's post-logout redirect URIs.
const maxPostLogoutRedirectURIs = 20

// maxResources bounds a client's resource indicators; each is compared at
// every token request.
const maxResources = 50

// maxURILength bounds the URIs the token service calls or compares at every
// request (resource indicators, the back-channel logout URI).
const maxURILength = 2000

// Rate-limit tiers, named as in pkg/ratelimit.
var rateLimitTiers = []string{"standard", "high", "low", "internal"}

var grantTypes = []string{GrantAuthorizationCode, GrantClientCredentials, GrantRefreshToken}

var confidentialAuthMethods = []string{AuthSecretBasic, AuthSecretPost, AuthTLSClient, AuthSelfSignedTLSClient}

// FieldError is invalid input naming the offending field, so the API can
// answer InvalidArgument with a precise field violation.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// normalize fills defaults that depend on other fields, before validation.
func (c *Client) normalize() {
	if c.AuthMethod == "" {
		if c.Public {
			c.AuthMethod = AuthNone
		} else {
			c.AuthMethod = AuthSecretBasic
		}
	}
	if c.AccessTokenLifetime == 0 {
		c.AccessTokenLifetime = defaultAccessTokenTTL
	}
	if c.RateLimitTier == "" {
		c.RateLimitTier = "standard"
	}
	if c.RefreshTokenDelivery == "" && slices.Contains(c.GrantTypes, GrantRefreshToken) {
		c.RefreshTokenDelivery = RefreshTokenDeliveryBody
	}
	if c.Type == ThirdParty && slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		// Third parties acting for a user always ask the user first.
		c.RequireConsent = true
	}
	c.GrantTypes = dedupe(c.GrantTypes)
	c.Scopes = dedupe(c.Scopes)
	c.RedirectURIs = dedupe(c.RedirectURIs)
	c.PostLogoutRedirectURIs = dedupe(c.PostLogoutRedirectURIs)
	c.Resources = dedupe(c.Resources)
}

// validate checks a client against the registry's rules; catalogue holds
// the names of the catalogued scopes.
func (c *Client) validate(catalogue map[string]bool) error {
	if strings.TrimSpace(c.Name) == "" || len(c.Name) > 200 {
		return fieldErr("name", "required, at most 200 characters")
	}
	for _, f := range [...]struct{ field, value string }{
		{"name", c.Name},
		{"tls_client_auth.subject_dn", c.TLS.SubjectDN},
		{"tls_client_auth.san_dns", c.TLS.SANDNS},
		{"tls_client_auth.san_uri", c.TLS.SANURI},
		{"tls_client_auth.san_email", c.TLS.SANEmail},
	} {
		if err := storableText(f.field, f.value); err != nil {
			return err
		}
	}
	if c.Type != FirstParty && c.Type != ThirdParty {
		return fieldErr("type", "must be first_party or third_party")
	}
	if len(c.GrantTypes) == 0 {
		return fieldErr("grant_types", "at least one grant type is required")
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(grantTypes, g) {
			return fieldErr("grant_types", "unsupported grant type %q (allowed: %s)", g, strings.Join(grantTypes, ", "))
		}
	}
	hasCode := slices.Contains(c.GrantTypes, GrantAuthorizationCode)
	if slices.Contains(c.GrantTypes, GrantRefreshToken) && !hasCode {
		return fieldErr("grant_types", "refresh_token needs authorization_code")
	}
	if c.Public && slices.Contains(c.GrantTypes, GrantClientCredentials) {
		return fieldErr("grant_types", "a public client cannot use client_credentials")
	}
	if hasCode && len(c.RedirectURIs) == 0 {
		return fieldErr("redirect_uris", "authorization_code needs at least one redirect URI")
	}
	if !hasCode && len(c.RedirectURIs) > 0 {
		return fieldErr("redirect_uris", "only clients using authorization_code have redirect URIs")
	}
	// Native apps (RFC 8252 §7.1): private-use URI schemes only for public
	// first-party clients.
	native := c.Public && c.Type == FirstParty
	if err := validateRedirectURIs("redirect_uris", c.RedirectURIs, native); err != nil {
		return err
	}
	if err := c.validateOpenID(hasCode, native); err != nil {
		return err
	}
	if len(c.Resources) > maxResources {
		return fieldErr("resources", "at most %d resource indicators", maxResources)
	}
	for _, r := range c.Resources {
		if err := validateResource(r); err != nil {
			return fieldErr("resources", "%q: %s", r, err)
		}
	}
	for _, s := range c.Scopes {
		if !catalogue[s] {
			return fieldErr("scopes", "scope %q is not in the scope catalogue", s)
		}
	}
	if err := c.validateAuthMethod(); err != nil {
		return err
	}
	if err := c.validateRefreshTokenDelivery(); err != nil {
		return err
	}
	lo, hi := minAccessTokenLifetime, thirdPartyMaxAccessToken
	if c.Type == FirstParty {
		lo, hi = firstPartyMinAccessToken, firstPartyMaxAccessToken
	}
	if c.AccessTokenLifetime < lo || c.AccessTokenLifetime > hi {
		return fieldErr("access_token_lifetime", "must be between %s and %s for a %s client", lo, hi, c.Type)
	}
	if !slices.Contains(rateLimitTiers, c.RateLimitTier) {
		return fieldErr("rate_limit_tier", "unknown tier %q", c.RateLimitTier)
	}
	return nil
}

func (c *Client) validateAuthMethod() error {
	t := c.TLS
	if c.Public {
		if c.AuthMethod != AuthNone {
			return fieldErr("token_endpoint_auth_method", "a public client has no secret or certificate: use none")
		}
	} else if !slices.Contains(confidentialAuthMethods, c.AuthMethod) {
		return fieldErr("token_endpoint_auth_method", "must be one of %s for a confidential client", strings.Join(confidentialAuthMethods, ", "))
	}
	subjects := 0
	for _, v := range []string{t.SubjectDN, t.SANDNS, t.SANURI, t.SANIP, t.SANEmail} {
		if v != "" {
			subjects++
		}
	}
	switch c.AuthMethod {
	case AuthTLSClient:
		if subjects != 1 {
			return fieldErr("tls_client_auth", "tls_client_auth needs exactly one of subject_dn, san_dns, san_uri, san_ip, san_email")
		}
		if t.SANIP != "" && net.ParseIP(t.SANIP) == nil {
			return fieldErr("tls_client_auth.san_ip", "not an IP address")
		}
		if len(t.CertificateThumbprints) > 0 {
			return fieldErr("tls_client_auth.certificate_thumbprints", "only for self_signed_tls_client_auth")
		}
	case AuthSelfSignedTLSClient:
		if len(t.CertificateThumbprints) == 0 {
			return fieldErr("tls_client_auth.certificate_thumbprints", "self_signed_tls_client_auth needs at least one certificate thumbprint")
		}
		if subjects != 0 {
			return fieldErr("tls_client_auth", "subject fields are only for tls_client_auth")
		}
		for _, tp := range t.CertificateThumbprints {
			if len(tp) != 43 || strings.Trim(tp, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
				return fieldErr("tls_client_auth.certificate_thumbprints", "%q is not a base64url SHA-256 thumbprint", tp)
			}
		}
	default:
		if subjects != 0 || len(t.CertificateThumbprints) != 0 {
			return fieldErr("tls_client_auth", "certificate fields need an mTLS token_endpoint_auth_method")
		}
		if t.BoundAccessTokens {
			return fieldErr("tls_client_auth.bound_access_tokens", "certificate-bound tokens need an mTLS token_endpoint_auth_method")
		}
	}
	return nil
}

// validateRefreshTokenDelivery checks RefreshTokenDelivery against the
// grant types, the client's kind and its redirect URIs (run after normalize,
// which fills the body default).
func (c *Client) validateRefreshTokenDelivery() error {
	const field = "refresh_token_delivery"
	d := c.RefreshTokenDelivery
	if d != "" && d != RefreshTokenDeliveryBody && d != RefreshTokenDeliveryCookie {
		return fieldErr(field, "must be %s or %s", RefreshTokenDeliveryBody, RefreshTokenDeliveryCookie)
	}
	if !slices.Contains(c.GrantTypes, GrantRefreshToken) {
		if d != "" {
			return fieldErr(field, "only a client with the refresh_token grant has a refresh token delivery: leave it unspecified")
		}
		return nil
	}
	if d != RefreshTokenDeliveryCookie {
		return nil
	}
	// A cookie reaches only a browser app, on its own origin: a public
	// first-party SPA, served from one of its http(s) redirect URIs.
	if !c.Public || c.AuthMethod != AuthNone {
		return fieldErr(field, "cookie delivery is only for public clients (token_endpoint_auth_method none): a confidential client keeps its refresh token server-side")
	}
	if c.Type != FirstParty {
		return fieldErr(field, "cookie delivery is only for first-party clients")
	}
	if !slices.ContainsFunc(c.RedirectURIs, isWebURI) {
		return fieldErr(field, "cookie delivery needs at least one http(s) redirect URI: a browser app's origin (an app with only custom-scheme redirects cannot receive cookies)")
	}
	return nil
}

// validateOpenID checks the OpenID Connect settings: logout URIs and the ID
// token lifetime, all for clients with the authorization_code grant only
// (the only grant that issues ID tokens and signs users in).
func (c *Client) validateOpenID(hasCode, native bool) error {
	if !hasCode {
		const why = "OpenID Connect settings are only for clients with the authorization_code grant"
		switch {
		case len(c.PostLogoutRedirectURIs) > 0:
			return fieldErr("post_logout_redirect_uris", why)
		case c.BackchannelLogoutURI != "":
			return fieldErr("backchannel_logout_uri", why)
		case c.BackchannelLogoutSessionRequired:
			return fieldErr("backchannel_logout_session_required", why)
		case c.IDTokenLifetime != 0:
			return fieldErr("id_token_lifetime", why)
		}
		return nil
	}
	// RP-Initiated Logout 1.0 §3.1: compared by exact string at the
	// end-session endpoint, so registered with the rules of redirect URIs.
	if len(c.PostLogoutRedirectURIs) > maxPostLogoutRedirectURIs {
		return fieldErr("post_logout_redirect_uris", "at most %d post-logout redirect URIs", maxPostLogoutRedirectURIs)
	}
	if err := validateRedirectURIs("post_logout_redirect_uris", c.PostLogoutRedirectURIs, native); err != nil {
		return err
	}
	// Back-Channel Logout 1.0 §2.2: an absolute URI, which may have a query
	// but no fragment; https, or http on a loopback IP literal as redirect
	// URIs.
	if u := c.BackchannelLogoutURI; u != "" {
		if len(u) > maxURILength {
			return fieldErr("backchannel_logout_uri", "at most %d characters", maxURILength)
		}
		if err := validateAbsoluteURI(u); err != nil {
			return fieldErr("backchannel_logout_uri", "%q: %s", u, err)
		}
	} else if c.BackchannelLogoutSessionRequired {
		return fieldErr("backchannel_logout_session_required", "only with a backchannel_logout_uri")
	}
	if d := c.IDTokenLifetime; d != 0 && (d < minIDTokenLifetime || d > maxIDTokenLifetime) {
		return fieldErr("id_token_lifetime", "must be between %s and %s, or unset for the server default", minIDTokenLifetime, maxIDTokenLifetime)
	}
	return nil
}

// isWebURI reports whether raw is an absolute http or https URI with a host:
// one whose origin a browser sends cookies to.
func isWebURI(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	return u.Scheme == "https" || u.Scheme == "http"
}

// validateRedirectURIs checks a list of redirect URIs (redirect_uris or
// post_logout_redirect_uris, named by field). native says whether the
// client may use private-use URI schemes: a public first-party client, that
// is a native app of the platform's own (RFC 8252 §7.1). Each private-use
// scheme may appear once in the list: one app, one redirect.
func validateRedirectURIs(field string, uris []string, native bool) error {
	schemes := map[string]string{}
	for _, u := range uris {
		scheme, err := validateRedirectURI(u, native)
		if err != nil {
			return fieldErr(field, "%q: %s", u, err)
		}
		if scheme == "" {
			continue
		}
		if prev, ok := schemes[scheme]; ok {
			return fieldErr(field, "%q: the private-use scheme %q already has the redirect URI %q: at most one per scheme", u, scheme, prev)
		}
		schemes[scheme] = u
	}
	return nil
}

// validateRedirectURI enforces what exact-string matching at the
// authorization endpoint relies on (RFC 9700 §2.1, RFC 8252 §7.3): an
// absolute https URI, or http on a loopback IP literal; no fragment, no
// userinfo, no wildcard. When native is set it also accepts a private-use
// URI scheme redirect (RFC 8252 §7.1, validatePrivateUseURI) and returns
// its scheme; otherwise the scheme returned is empty.
func validateRedirectURI(raw string, native bool) (privateScheme string, err error) {
	if strings.ContainsAny(raw, "*") {
		return "", fmt.Errorf("wildcards are not allowed")
	}
	scheme, ok := schemeOf(raw)
	if !ok || strings.EqualFold(scheme, "https") || strings.EqualFold(scheme, "http") {
		return "", validateAbsoluteURI(raw)
	}
	if !native {
		return "", fmt.Errorf("scheme must be https (or http on a loopback IP literal): private-use URI schemes (RFC 8252 §7.1) are only for public first-party clients")
	}
	if err := validatePrivateUseURI(raw, scheme); err != nil {
		return "", err
	}
	return scheme, nil
}

// schemeOf returns what comes before the first colon of raw when that can
// be a scheme rather than part of a relative reference: non-empty, and
// without '/', '?' or '#'. Whether it is a valid scheme is the caller's
// question.
func schemeOf(raw string) (string, bool) {
	scheme, _, ok := strings.Cut(raw, ":")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/?#") {
		return "", false
	}
	return scheme, true
}

// browserSchemes are schemes a browser or the platform handles itself. A
// private-use scheme may be neither one of them nor look like one to a
// reader (https.evil:/cb, javascript.app:/cb): the first label of a
// reverse-domain scheme is not one of them.
var browserSchemes = []string{
	"http", "https", "ws", "wss", "ftp", "file", "data", "javascript", "vbscript",
	"blob", "about", "filesystem",
}

// validatePrivateUseURI checks a native app's private-use URI scheme
// redirect (RFC 8252 §7.1), for instance com.example.app:/oauth2redirect:
//
//   - the scheme is valid (RFC 3986 §3.1), in lower case (the URI is
//     compared by exact string), and a reverse domain name of at least two
//     DNS labels, so it contains a period (RFC 8252 §7.1, §8.4; RFC 7595
//     §3.8), whose first label is not a browser's scheme (browserSchemes);
//   - the scheme is followed by a single slash and a path: no authority, so
//     no host or userinfo ("there is no naming authority", RFC 8252 §7.1);
//   - no fragment (RFC 6749 §3.1.2); a query is allowed, as on https.
func validatePrivateUseURI(raw, scheme string) error {
	if err := uriText(raw); err != nil {
		return err
	}
	if err := validatePrivateScheme(scheme); err != nil {
		return err
	}
	rest := raw[len(scheme)+1:]
	if !strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, "//") {
		return fmt.Errorf("a private-use scheme is followed by a single slash and a path, with no host: %s:/path (RFC 8252 §7.1)", scheme)
	}
	if strings.Contains(raw, "#") {
		return fmt.Errorf("a fragment is not allowed")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fmt.Errorf("not a URI")
	}
	return nil
}

// validatePrivateScheme checks a private-use scheme: see
// validatePrivateUseURI.
func validatePrivateScheme(scheme string) error {
	const reverseDomain = "a private-use scheme is a reverse domain name the app's publisher controls, such as com.example.app (RFC 8252 §7.1)"
	for i := 0; i < len(scheme); i++ {
		c := scheme[i]
		switch {
		case c >= 'a' && c <= 'z', c == '.', c == '-', c == '+':
		case c >= '0' && c <= '9':
			if i == 0 {
				return fmt.Errorf("scheme %q is not valid: it starts with a letter (RFC 3986 §3.1)", scheme)
			}
		case c >= 'A' && c <= 'Z':
			return fmt.Errorf("scheme %q must be in lower case", scheme)
		default:
			return fmt.Errorf("scheme %q is not valid: letters, digits, '+', '-' and '.' only (RFC 3986 §3.1)", scheme)
		}
	}
	if scheme[0] == '.' || scheme[0] == '-' || scheme[0] == '+' {
		return fmt.Errorf("scheme %q is not valid: it starts with a letter (RFC 3986 §3.1)", scheme)
	}
	labels := strings.Split(scheme, ".")
	if slices.Contains(browserSchemes, scheme) || slices.Contains(browserSchemes, labels[0]) {
		return fmt.Errorf("scheme %q is, or looks like, a scheme browsers handle themselves: %s", scheme, reverseDomain)
	}
	if len(labels) < 2 {
		return fmt.Errorf("scheme %q has no period: %s", scheme, reverseDomain)
	}
	if len(scheme) > 253 {
		return fmt.Errorf("scheme %q is longer than a domain name (253 characters)", scheme)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.Contains(l, "+") {
			return fmt.Errorf("scheme %q is not a domain name: labels of 1 to 63 letters, digits and inner hyphens (%s)", scheme, reverseDomain)
		}
	}
	return nil
}

// validateResource checks a resource indicator (RFC 8707 §2: an absolute URI
// without a fragment) with the rules of redirect URIs: https, or http on a
// loopback IP literal (for tests); no userinfo, no white space.
func validateResource(raw string) error {
	if len(raw) > maxURILength {
		return fmt.Errorf("at most %d characters", maxURILength)
	}
	return validateAbsoluteURI(raw)
}

// uriText refuses what no registered URI may contain: white space and
// backslashes (which parsers and browsers read differently), and what no
// store can hold.
func uriText(raw string) error {
	if strings.ContainsAny(raw, " \t\r\n\\") {
		return fmt.Errorf("white space and backslashes are not allowed")
	}
	if !database.Storable(raw) {
		return fmt.Errorf("must be valid UTF-8 without NUL characters")
	}
	return nil
}

// validateAbsoluteURI is what redirect URIs, resource indicators and the
// back-channel logout URI share: an absolute https URI, or http on a
// loopback IP literal (RFC 8252 §7.3); no fragment, no userinfo, no white
// space or backslash.
func validateAbsoluteURI(raw string) error {
	if err := uriText(raw); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URI")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("a fragment is not allowed")
	}
	if u.User != nil {
		return fmt.Errorf("userinfo is not allowed")
	}
	if u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("must be an absolute URI with a host")
	}
	switch u.Scheme {
	case "https":
	case "http":
		ip := net.ParseIP(u.Hostname())
		if ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("http is allowed only on a loopback IP literal (RFC 8252 §7.3)")
		}
	default:
		return fmt.Errorf("scheme must be https (or http on loopback)")
	}
	return nil
}

// validateScopeName follows RFC 6749 §3.3: scope-token = 1*NQCHAR.
func validateScopeName(name string) error {
	if name == "" || len(name) > 128 {
		return fieldErr("scope.name", "required, at most 128 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return fieldErr("scope.name", "only printable ASCII without space, quote or backslash (RFC 6749 §3.3)")
		}
	}
	return nil
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
