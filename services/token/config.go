package token

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultClockSkew = 30 * time.Second
	DefaultCacheTTL  = 60 * time.Second
	DefaultCacheSize = 10_000
)

// Config configures a Service. Issuer and DefaultAudience are required;
// every other field has a safe default.
type Config struct {
	// Issuer is the iss of every token and the issuer of the metadata,
	// byte for byte (RFC 8414 §3.3): an absolute https URL (http only on a
	// loopback IP or localhost, for tests and the default local run) with
	// no query, no fragment and no trailing slash. The endpoints are
	// derived from it: <issuer>/oauth2/token, <issuer>/oauth2/introspect,
	// <issuer>/.well-known/jwks.json.
	Issuer string
	// DefaultAudience is the aud of a token requested without an RFC 8707
	// resource parameter.
	DefaultAudience string
	// ScopesSupported is the metadata's scopes_supported; empty omits it.
	ScopesSupported []string
	// ClockSkew is the tolerance for nbf and iat in the future when
	// introspecting (default 30s). Expiry gets none: at exp a token is
	// inactive.
	ClockSkew time.Duration

	// Logger receives server errors (never a token or a secret); nil
	// discards them.
	Logger *slog.Logger
	// Audit receives every refused client authentication and every rate
	// limit refusal; nil discards them.
	Audit audit.Recorder
	// Metrics takes the service's counters (gatehouse_tokens_issued_total);
	// nil registers them nowhere.
	Metrics prometheus.Registerer
	// Limiter holds the failed-authentication budgets (tiers
	// TierAuthFailClient and TierAuthFailIP) and the introspection and
	// revocation budgets (the caller's rate-limit tier). It must know the
	// tiers of LimiterTiers — build it with NewLimiter and the configured
	// client tiers; nil means NewLimiter(nil), the default tiers.
	Limiter *ratelimit.Limiter
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RemoteIP returns the caller's IP for the per-address budget and the
	// audit trail. The default is the host of http.Request.RemoteAddr;
	// behind a reverse proxy, supply one that trusts only that proxy's
	// forwarding header.
	RemoteIP func(*http.Request) string

	// CacheTTL is how long a verified client secret is trusted without
	// asking the registry again (default 60s). ClientChanged events end it
	// sooner.
	CacheTTL time.Duration
	// CacheSize bounds the verified-secret cache (default 10 000 entries).
	CacheSize int

	// Revoker records revocations made at the RFC 7009 endpoint; nil
	// leaves the endpoint out (and out of the metadata).
	Revoker Revoker

	// Grants stores authorization codes, refresh-token families and
	// sessions, and Users checks passwords; with both, the service serves
	// the authorization-code flow (authorize, login, consent, logout, and
	// the authorization_code and refresh_token grants).
	Grants grantstore.Store
	Users  Users
	// RefreshLifetime is the absolute lifetime of a grant's refresh
	// tokens (default 30 days); RefreshIdle how long one may go unused
	// (default 7 days).
	RefreshLifetime time.Duration
	RefreshIdle     time.Duration
	// SessionLifetime is how long a sign-in lasts (default 12 h).
	SessionLifetime time.Duration
	// SigningAlg is the JWS algorithm of the signing keys (the key
	// service's configuration), listed in the discovery document as the
	// ID tokens' (default ES256).
	SigningAlg string
	// IDTokenLifetime is the lifetime of an OpenID Connect ID token for a
	// client registered without one of its own (default 5 min).
	IDTokenLifetime time.Duration
	// KeySet is the published key set: an id_token_hint or a logout
	// request's ID token is checked against it, as the relying parties
	// check it. Required with Grants.
	KeySet KeySet
	// DeviceKey signs the device cookies of the login page (at least 32
	// bytes; replicas share it so a browser's cookie works at any of
	// them). Nil: a random key of this process, so cookies last until a
	// restart.
	DeviceKey []byte
	// LoginFailureDelay is how long a wrong password from an address that
	// failed lately waits for its answer (default 1 s).
	LoginFailureDelay time.Duration
	// PasswordChecks is how many password checks (argon2id) run at once;
	// more wait in line (passwordchecks.go). Default: GOMAXPROCS.
	PasswordChecks int
	// Backchannel sends back-channel logout tokens (OpenID Connect
	// Back-Channel Logout 1.0); nil uses an http.Client with a 5 s
	// timeout that follows no redirects.
	Backchannel *http.Client

	// ClientCerts checks the certificates of mTLS clients (RFC 8705); nil
	// refuses tls_client_auth and self_signed_tls_client_auth.
	ClientCerts CertVerifier
	// MTLSBase is the scheme://host:port of the mTLS listener when it
	// differs from the issuer's: the metadata lists its endpoints as
	// mtls_endpoint_aliases (RFC 8705 §5).
	MTLSBase string

	// DPoPAlgorithms are the JWS algorithms accepted for DPoP proofs
	// (RFC 9449), asymmetric only; default ES256 and EdDSA.
	DPoPAlgorithms []string
	// DPoPWindow is how far a proof's iat may be from now, either way
	// (default 60 s).
	DPoPWindow time.Duration
	// DPoPNoNonce turns off the server nonce the token endpoint demands in
	// every proof (RFC 9449 §8). The nonces are keyed from DeviceKey, so
	// replicas sharing it accept each other's.
	DPoPNoNonce bool

	// RequirePAR makes /oauth2/authorize take every client's requests only
	// by a request_uri from /oauth2/par (RFC 9126 §5); without it, only
	// those of clients registered with require_pushed_authorization_requests.
	RequirePAR bool
}

// Defaults of the user grants.
const (
	DefaultRefreshLifetime = 30 * 24 * time.Hour
	DefaultRefreshIdle     = 7 * 24 * time.Hour
	DefaultSessionLifetime = 12 * time.Hour
)

// Endpoints are the URLs derived from the issuer.
type Endpoints struct {
	Token         string
	Introspection string
	JWKS          string
	// Revocation is empty when the service has no Revoker.
	Revocation string
	// Authorization is empty when the service has no Grants; so are
	// UserInfo and EndSession, the OpenID Connect endpoints.
	Authorization string
	UserInfo      string
	EndSession    string
	// PushedAuthorization is the PAR endpoint (RFC 9126), with Authorization.
	PushedAuthorization string
}

const (
	tokenPath      = "/oauth2/token"
	introspectPath = "/oauth2/introspect"
	revokePath     = "/oauth2/revoke"
	authorizePath  = "/oauth2/authorize"
	parPath        = "/oauth2/par"
	userinfoPath   = "/oauth2/userinfo"
	jwksPath       = "/.well-known/jwks.json"
	// RFC 8414 §3: inserted between the host and the issuer's path.
	oauthMetadataPath = "/.well-known/oauth-authorization-server"
	// OpenID Connect Discovery 1.0 §4: appended to the issuer.
	oidcMetadataPath = "/.well-known/openid-configuration"
)

// withDefaults returns c with every unset field defaulted, or every problem
// found, joined.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if err := validateIssuer(c.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("issuer %q: %w", c.Issuer, err))
	}
	if strings.TrimSpace(c.DefaultAudience) == "" {
		errs = append(errs, errors.New("default audience: required"))
	}
	for _, s := range c.ScopesSupported {
		if !validScopeToken(s) {
			errs = append(errs, fmt.Errorf("scopes supported: %q is not a scope token (RFC 6749 §3.3)", s))
		}
	}
	if len(c.DeviceKey) > 0 && len(c.DeviceKey) < 32 {
		errs = append(errs, errors.New("device key: at least 32 bytes"))
	}
	if c.Grants != nil && c.KeySet == nil {
		errs = append(errs, errors.New("key set: required with grants (id_token_hint is checked against it)"))
	}
	if c.ClockSkew < 0 || c.CacheTTL < 0 || c.CacheSize < 0 {
		errs = append(errs, errors.New("clock skew, cache TTL and cache size must not be negative"))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("token: config: %w", errors.Join(errs...))
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.RefreshLifetime <= 0 {
		c.RefreshLifetime = DefaultRefreshLifetime
	}
	if c.RefreshIdle <= 0 || c.RefreshIdle > c.RefreshLifetime {
		c.RefreshIdle = min(DefaultRefreshIdle, c.RefreshLifetime)
	}
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = DefaultSessionLifetime
	}
	if len(c.DeviceKey) == 0 {
		c.DeviceKey = make([]byte, 32)
		if _, err := rand.Read(c.DeviceKey); err != nil {
			return c, fmt.Errorf("token: config: device key: %w", err)
		}
	}
	if c.LoginFailureDelay <= 0 {
		c.LoginFailureDelay = time.Second
	}
	if c.PasswordChecks <= 0 {
		c.PasswordChecks = runtime.GOMAXPROCS(0)
	}
	if c.SigningAlg == "" {
		c.SigningAlg = "ES256"
	}
	if c.IDTokenLifetime <= 0 {
		c.IDTokenLifetime = DefaultIDTokenLifetime
	}
	if c.Backchannel == nil {
		c.Backchannel = &http.Client{
			Timeout:       5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Audit == nil {
		c.Audit = discardAudit{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Limiter == nil {
		c.Limiter = NewLimiter(nil, ratelimit.WithClock(c.Now))
	}
	if c.RemoteIP == nil {
		c.RemoteIP = remoteIP
	}
	return c, nil
}

// validateIssuer applies RFC 8414 §2: a URL using https with no query or
// fragment; http is allowed on loopback for tests and the local default.
func validateIssuer(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Host == "" || u.Opaque != "" || u.User != nil {
		return errors.New("must be an absolute URL with a host and no userinfo")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "?#") {
		return errors.New("must have no query and no fragment (RFC 8414 §2)")
	}
	if strings.Trim(u.Path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/") != "" || u.RawPath != "" {
		return errors.New("the path may hold only letters, digits and - . _ ~ /")
	}
	if strings.HasSuffix(raw, "/") {
		return errors.New("must not end with a slash (the endpoints are <issuer>/oauth2/token and so on)")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback.Host(u.Hostname()) {
			return errors.New("http is allowed only on a loopback address; use https")
		}
	default:
		return errors.New("scheme must be https")
	}
	return nil
}

// issuerPath is the path component of the issuer ("" for none).
func issuerPath(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return u.EscapedPath()
}

func (c Config) endpoints() Endpoints {
	ep := Endpoints{
		Token:         c.Issuer + tokenPath,
		Introspection: c.Issuer + introspectPath,
		JWKS:          c.Issuer + jwksPath,
	}
	if c.Revoker != nil {
		ep.Revocation = c.Issuer + revokePath
	}
	if c.Grants != nil {
		ep.Authorization = c.Issuer + authorizePath
		ep.UserInfo = c.Issuer + userinfoPath
		ep.EndSession = c.Issuer + logoutPath
		ep.PushedAuthorization = c.Issuer + parPath
	}
	return ep
}

// remoteIP is the default Config.RemoteIP: the host of RemoteAddr.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type discardAudit struct{}

func (discardAudit) RecordFailure(_ context.Context, _ audit.Failure) {}
