// Package config loads the serve configuration from flags, GATEHOUSE_*
// environment variables and an optional YAML file, in that order of
// precedence, over safe defaults.
package config

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
)

// Config is the configuration of `gatehouse serve`.
type Config struct {
	DataDir     string
	HTTPAddr    string
	GRPCAddr    string
	DatabaseURL string
	NATSURL     string
	// NATSListen is the embedded NATS server's address (loopback only).
	NATSListen      string
	LogLevel        slog.Level
	ShutdownTimeout time.Duration
	APIKeyCacheTTL  time.Duration
	// AuditRetention is how long admin audit records are kept; 0 keeps
	// them forever.
	AuditRetention time.Duration
	// Service is the one service to run, or "" for all of them.
	Service string

	// Issuer is the OAuth issuer; empty means http://<bound http address>.
	Issuer          string
	DefaultAudience string
	ClockSkew       time.Duration
	// KEKFile holds the key-encryption key; empty with KEK empty means
	// <data-dir>/kek, created on first start.
	KEKFile string
	// KEK is the base64 key-encryption key from GATEHOUSE_KEK; it has no
	// flag so that it never shows in a process list.
	KEK                 string
	SigningAlg          string
	KeyRotationInterval time.Duration
	KeyPublishLead      time.Duration
	JWKSMaxAge          time.Duration
	ExampleInventory    bool
	// GRPCReflection serves gRPC server reflection (for grpcurl and the
	// like) to anyone who can reach the gRPC listener.
	GRPCReflection bool
	// TrustedProxies are the reverse proxies (load balancers, ingress) in
	// front of the listeners: a request one of them passes on is counted
	// against the address its X-Forwarded-For names, not the proxy's.
	TrustedProxies []netip.Prefix
	// DPoPAlgorithms are the JWS algorithms accepted for DPoP proofs (RFC
	// 9449), at the token endpoint and the validators; DPoPWindow how far a
	// proof's iat may be from now; DPoPTokenNonce makes the token endpoint
	// demand a server nonce.
	DPoPAlgorithms []string
	DPoPWindow     time.Duration
	DPoPTokenNonce bool
	// DPoPResourceNonce makes the process's validators demand a server
	// nonce in DPoP proofs too (RFC 9449 §9).
	DPoPResourceNonce bool
	// RequirePAR makes every client push its authorization requests to
	// /oauth2/par first (RFC 9126 §5).
	RequirePAR bool
	// RateLimitTiers maps a tier name to requests per second and burst.
	RateLimitTiers map[string]Tier

	// RevocationMaxStaleness is how long validators trust their copy of
	// the revocation list while neither NATS nor the revocation service
	// answers; after that they refuse requests (unless RevocationFailOpen).
	RevocationMaxStaleness time.Duration
	// RevocationResyncInterval is how often validators re-sync the list
	// from the revocation service, covering events lost on the way.
	RevocationResyncInterval time.Duration
	// RevocationFailOpen accepts requests with a stale list instead.
	RevocationFailOpen bool

	// RefreshTokenLifetime is a grant's absolute lifetime, RefreshTokenIdle
	// how long a refresh token may go unused, SessionLifetime how long a
	// sign-in lasts.
	RefreshTokenLifetime time.Duration
	RefreshTokenIdle     time.Duration
	SessionLifetime      time.Duration
	// IDTokenLifetime is the lifetime of OpenID Connect ID tokens, for
	// clients registered without their own.
	IDTokenLifetime time.Duration
	// DeviceKey signs the login page's device cookies; empty: derived from
	// the KEK in a process that holds it, else random per process.
	DeviceKey []byte

	// MTLSAddr is the TLS listener for partners with client certificates
	// (gRPC and HTTPS on one port); empty turns it off.
	MTLSAddr string
	// AdminAddr is the admin plane's own TLS listener (gRPC and HTTPS on
	// one port); when set, the public listeners refuse admin methods and
	// admin credentials. Empty: admin calls share the public listeners.
	AdminAddr string
	// TLSCertFile and TLSKeyFile are its server certificate; empty: a
	// certificate generated at start (and logged as such).
	TLSCertFile, TLSKeyFile string
	// ClientCAFile is a PEM bundle of CAs whose client certificates are
	// trusted, in addition to the platform CA.
	ClientCAFile string

	// AuthzAddr is the listener gateways ask for authorization decisions
	// on (HTTP forward auth, /authz/check); empty turns it off.
	AuthzAddr string
	// AuthzRoutes is the route-rules file those decisions follow.
	AuthzRoutes string
	// AuthzTLS serves the authorizer's listener over TLS with the mTLS
	// listener's certificate and trust, requiring a client certificate.
	AuthzTLS bool
	// AuthzClientCertHeader names the header in which gateways that
	// terminate mTLS state the client certificate; empty: none is read.
	AuthzClientCertHeader string

	// Peers of a service run on its own (split deployment): the gRPC
	// addresses of each peer's replicas (their mTLS listeners).
	PeerClients, PeerRevocation, PeerKeys, PeerToken, PeerInventory []string
	// PeerCertFile and PeerKeyFile are this service's identity towards its
	// peers, a certificate the platform CA issued to the service's client;
	// PeerCAFile holds the CA that issued the peers' server certificates.
	PeerCertFile, PeerKeyFile, PeerCAFile string
	// PeerTimeout bounds a call to a peer made without a deadline.
	PeerTimeout time.Duration
	// JWKSURL is where a resource service (serve inventory) reads the
	// issuer's signing keys; empty: <issuer>/.well-known/jwks.json.
	JWKSURL string

	// OTLPEndpoint is the host:port of an OpenTelemetry collector (OTLP
	// over gRPC) that spans are exported to; empty turns tracing off.
	OTLPEndpoint string
	// OTLPInsecure exports in plaintext instead of TLS, to a collector on
	// a loopback address only.
	OTLPInsecure bool
}

// Tier is one rate-limit tier: a sustained rate per client and a burst.
type Tier struct {
	PerSecond float64
	Burst     int
}

// Services that `serve <service>` accepts.
var Services = []string{"clients", "token", "keys", "revocation", "gateway", "inventory", "authz"}

// SplitPeers names, for each service run on its own, the peers it calls:
// each needs its --peer-<name> addresses.
var SplitPeers = map[string][]string{
	"clients":    {"revocation", "keys"},
	"keys":       {"revocation", "clients"},
	"revocation": {"clients", "keys"},
	"token":      {"clients", "keys", "revocation"},
	"gateway":    {"clients", "keys", "revocation", "token"},
	"inventory":  {"clients", "revocation"},
	"authz":      {"clients", "revocation"},
}

// OptionalPeers are the peers a service may be given besides SplitPeers:
// the example inventory API and the gateway authorizer read the signing
// keys over HTTP (--jwks-url) as any resource service may, or from the key
// service; the gateway fronts the example API's REST routes only when
// given its replicas.
var OptionalPeers = map[string][]string{
	"inventory": {"keys"},
	"authz":     {"keys"},
	"gateway":   {"inventory"},
}

// Peer returns the configured addresses of the named peer service.
func (c *Config) Peer(service string) []string {
	switch service {
	case "clients":
		return c.PeerClients
	case "revocation":
		return c.PeerRevocation
	case "keys":
		return c.PeerKeys
	case "token":
		return c.PeerToken
	case "inventory":
		return c.PeerInventory
	}
	return nil
}

// checkAuthz checks that the gateway authorizer has what it decides by:
// the route rules, and the gateways whose forwarded headers it believes.
func (c *Config) checkAuthz() error {
	switch {
	case c.AuthzAddr == "" && c.AuthzTLS:
		return &Error{Option: "authz-tls", Source: "configuration", Err: errors.New("needs --authz-addr: the listener the gateways ask on")}
	case c.AuthzTLS && c.MTLSAddr == "":
		return &Error{Option: "authz-tls", Source: "configuration", Err: errors.New("needs --mtls-addr: its server certificate and client trust are the mTLS listener's")}
	case c.AuthzAddr == "" && c.AuthzClientCertHeader != "":
		return &Error{Option: "authz-client-cert-header", Source: "configuration", Err: errors.New("needs --authz-addr: the listener the gateways ask on")}
	case c.AuthzAddr == "" && c.AuthzRoutes != "":
		return &Error{Option: "authz-routes", Source: "configuration", Err: errors.New("needs --authz-addr: the listener the gateways ask on")}
	case c.AuthzAddr != "" && c.AuthzRoutes == "":
		return &Error{Option: "authz-routes", Source: "configuration", Err: errors.New("required with --authz-addr: without routes every request would be refused")}
	case c.AuthzAddr != "" && len(c.TrustedProxies) == 0:
		return &Error{Option: "trusted-proxies", Source: "configuration", Err: errors.New("required with --authz-addr: the gateways whose X-Forwarded-* headers the authorizer believes")}
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// checkSplit checks what a service run on its own needs: the deployment's
// NATS and issuer, its identity towards its peers, an mTLS listener for
// them to reach it on, and the addresses of each peer it calls. The
// all-in-one process runs every service itself and takes no peer.
func (c *Config) checkSplit() error {
	peerFlags := []string{"clients", "revocation", "keys", "token", "inventory"}
	if c.Service == "" {
		for _, p := range peerFlags {
			if len(c.Peer(p)) > 0 {
				return &Error{Option: "peer-" + p, Source: "configuration", Err: errors.New("the all-in-one process runs every service itself; --peer-* options are for `serve <service>`")}
			}
		}
		if c.Issuer == "" && wildcardAddr(c.HTTPAddr) {
			// Without --issuer the issuer is http://<http-addr>: tokens
			// would name http://0.0.0.0:8080, which no client can check
			// against anything.
			return &Error{Option: "issuer", Source: "configuration", Err: fmt.Errorf("required when --http-addr %s listens on every address: set the URL clients reach Gatehouse at (e.g. https://auth.example.com)", c.HTTPAddr)}
		}
		return nil
	}
	fail := func(option, why string) error {
		return &Error{Option: option, Source: "configuration", Err: fmt.Errorf("serve %s: %s", c.Service, why)}
	}
	if c.AdminAddr != "" {
		// A split deployment keeps its services' admin methods behind
		// `serve gateway` and the peers' mTLS: the separate admin
		// listener is the all-in-one process's.
		return fail("admin-addr", "not supported by one service of a split deployment; serve the admin plane from the all-in-one process, or reach the services over their mTLS listeners")
	}
	switch {
	case c.NATSURL == "":
		return fail("nats-url", "required: the NATS the services publish revocations, key rotations and client changes on")
	case c.Issuer == "":
		return fail("issuer", "required: the token service's issuer, the same for every service")
	case c.PeerCertFile == "" || c.PeerKeyFile == "" || c.PeerCAFile == "":
		return fail("peer-cert", "--peer-cert, --peer-key and --peer-ca are required: the service's identity (gatehouse service-cert) and the platform CA")
	case c.MTLSAddr == "":
		return fail("mtls-addr", "required: the listener its peers call it on")
	case c.Service == "authz" && c.AuthzAddr == "":
		// checkAuthz has checked the routes and the trusted gateways
		// that go with it.
		return fail("authz-addr", "required: the listener the gateways ask on, which is all this service serves")
	}
	needs := SplitPeers[c.Service]
	for _, p := range peerFlags {
		switch {
		case slices.Contains(needs, p) && len(c.Peer(p)) == 0:
			return fail("peer-"+p, "required: the "+p+" service's replicas")
		case !slices.Contains(needs, p) && !slices.Contains(OptionalPeers[c.Service], p) && len(c.Peer(p)) > 0:
			return fail("peer-"+p, "not a peer of this service")
		}
	}
	return nil
}

// option is one setting: its YAML key is Name, its flag --Name, its
// environment variable GATEHOUSE_<NAME with - as _>.
type option struct {
	Name    string
	Default string
	Help    string
	set     func(c *Config, v string) error
}

var options = []option{
	{"data-dir", "./data", "directory for the SQLite database, embedded NATS and admin-credentials.json", func(c *Config, v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		c.DataDir = v
		return nil
	}},
	{"http-addr", "127.0.0.1:8080", "HTTP listen address (REST facade, health, metrics); port 0 picks a free port", func(c *Config, v string) error {
		c.HTTPAddr = v
		return checkAddr(v)
	}},
	{"grpc-addr", "127.0.0.1:9090", "gRPC listen address; port 0 picks a free port", func(c *Config, v string) error {
		c.GRPCAddr = v
		return checkAddr(v)
	}},
	{"database-url", "", "postgres://... to store in PostgreSQL; empty for SQLite under --data-dir", func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
			return errors.New("must be a postgres:// URL (or empty for the embedded SQLite store)")
		}
		c.DatabaseURL = v
		return nil
	}},
	{"nats-url", "", "nats:// URL of a NATS server with JetStream, or comma-separated URLs of a cluster's servers; empty runs an embedded one on loopback", func(c *Config, v string) error {
		for _, u := range strings.Split(v, ",") {
			if v != "" && !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
				return errors.New("must be nats:// or tls:// URLs, comma-separated (or empty for the embedded server)")
			}
		}
		c.NATSURL = v
		return nil
	}},
	{"nats-listen", "127.0.0.1:0", "address of the embedded NATS server when --nats-url is empty (a loopback host; port 0 picks one), so services on this machine can follow its events", func(c *Config, v string) error {
		if err := checkAddr(v); err != nil {
			return err
		}
		if !loopback.HostPort(v) {
			return errors.New("must be a loopback address: the embedded server has no authentication (run NATS yourself, with --nats-url, to share events beyond this machine)")
		}
		c.NATSListen = v
		return nil
	}},
	{"log-level", "info", "debug, info, warn or error", func(c *Config, v string) error {
		// Not slog's own parsing: it also takes offsets such as INFO+2,
		// and its errors do not say what is allowed.
		levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
		l, ok := levels[strings.ToLower(strings.TrimSpace(v))]
		if !ok {
			return fmt.Errorf("%q is not a level: must be one of debug, info, warn, error", v)
		}
		c.LogLevel = l
		return nil
	}},
	{"shutdown-timeout", "15s", "how long a graceful shutdown waits for in-flight requests", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		c.ShutdownTimeout = d
		return err
	}},
	{"apikey-cache-ttl", "30s", "how long a validator trusts a verified API key before asking the registry again", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		if err == nil && d > 5*time.Minute {
			err = errors.New("must be at most 5m")
		}
		c.APIKeyCacheTTL = d
		return err
	}},
	{"audit-retention", "365d", "how long admin audit records are kept (a duration, or days as 365d; 0 keeps them forever)", func(c *Config, v string) error {
		d, err := retention(v)
		c.AuditRetention = d
		return err
	}},
	{"issuer", "", "OAuth issuer URL, exactly as in every token's iss (https, or http on loopback); empty: http://<http-addr>", func(c *Config, v string) error {
		c.Issuer = v
		return checkIssuer(v)
	}},
	{"default-audience", "urn:gatehouse:api", "aud of tokens requested without a resource, and the audience the services' validators accept", func(c *Config, v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		c.DefaultAudience = v
		return nil
	}},
	{"clock-skew", "30s", "leeway for exp, nbf and iat when validating tokens (at most 60s)", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		if err == nil && d > time.Minute {
			err = errors.New("must be at most 60s")
		}
		c.ClockSkew = d
		return err
	}},
	{"kek-file", "", "file with the 32-byte key-encryption key of the signing keys (raw or base64); empty with GATEHOUSE_KEK unset: <data-dir>/kek, created on first start", func(c *Config, v string) error {
		c.KEKFile = v
		return nil
	}},
	{"signing-alg", "ES256", "algorithm of new signing keys: ES256, EdDSA, RS256 or PS256", func(c *Config, v string) error {
		if !slices.Contains([]string{"ES256", "EdDSA", "RS256", "PS256"}, v) {
			return errors.New("must be ES256, EdDSA, RS256 or PS256")
		}
		c.SigningAlg = v
		return nil
	}},
	{"key-rotation-interval", "720h", "how often a new signing key is rotated in", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		c.KeyRotationInterval = d
		return err
	}},
	{"key-publish-lead", "10m", "how long a new key is published before it signs (at least --jwks-max-age)", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		c.KeyPublishLead = d
		return err
	}},
	{"jwks-max-age", "5m", "Cache-Control max-age of the JWKS, and how long validators trust a fetched JWKS", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		c.JWKSMaxAge = d
		return err
	}},
	{"rate-limit-tiers", "low=5:10,standard=50:100,high=500:1000,internal=5000:10000", "per-client request budgets: tier=requests_per_second:burst, comma-separated (tiers low, standard, high, internal)", func(c *Config, v string) error {
		t, err := parseTiers(v)
		c.RateLimitTiers = t
		return err
	}},
	{"revocation-max-staleness", "2m", "how long validators keep using their revocation list while neither NATS nor the revocation service answers; then they refuse requests with 503", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		c.RevocationMaxStaleness = d
		return err
	}},
	{"revocation-resync-interval", "10s", "how often validators re-sync the revocation list from the revocation service (covers events lost while NATS was down)", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		if err == nil && d > 5*time.Minute {
			err = errors.New("must be at most 5m")
		}
		c.RevocationResyncInterval = d
		return err
	}},
	{"revocation-fail-open", "false", "accept requests when the revocation list is stale instead of refusing them (not recommended)", boolOption(func(c *Config) *bool { return &c.RevocationFailOpen })},
	{"refresh-token-lifetime", "720h", "absolute lifetime of a grant's refresh tokens (rotation does not extend it)", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		c.RefreshTokenLifetime = d
		return err
	}},
	{"refresh-token-idle", "168h", "how long a refresh token may go unused before it expires (at most --refresh-token-lifetime)", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		c.RefreshTokenIdle = d
		return err
	}},
	{"session-lifetime", "12h", "how long a sign-in on the login page lasts (single sign-on across first-party apps)", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		if err == nil && d > 30*24*time.Hour {
			err = errors.New("must be at most 720h")
		}
		c.SessionLifetime = d
		return err
	}},
	{"id-token-lifetime", "5m", "lifetime of OpenID Connect ID tokens, for clients registered without their own (1m to 60m)", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		if err == nil && (d < time.Minute || d > time.Hour) {
			err = errors.New("must be between 1m and 60m")
		}
		c.IDTokenLifetime = d
		return err
	}},
	{"device-key", "", "base64 of at least 32 random bytes that sign the login page's device cookies, shared by the token service's replicas; empty: derived from the KEK where the process holds it, else random per process", func(c *Config, v string) error {
		if v == "" {
			c.DeviceKey = nil
			return nil
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			b, err = base64.RawURLEncoding.DecodeString(v)
		}
		if err != nil || len(b) < 32 {
			return errors.New("must be base64 of at least 32 bytes")
		}
		c.DeviceKey = b
		return nil
	}},
	{"mtls-addr", "127.0.0.1:8443", "TLS listen address for partners with client certificates (RFC 8705): gRPC and HTTPS on one port; empty turns it off; port 0 picks a free port", func(c *Config, v string) error {
		c.MTLSAddr = v
		if v == "" {
			return nil
		}
		return checkAddr(v)
	}},
	{"admin-addr", "", "TLS listen address of the admin plane (admin gRPC and REST on one port); when set, the public listeners refuse admin methods and admin credentials; empty: admin calls use the public listeners", func(c *Config, v string) error {
		c.AdminAddr = v
		if v == "" {
			return nil
		}
		return checkAddr(v)
	}},
	{"authz-addr", "", "listen address of the gateway authorizer (HTTP forward auth at /authz/check, for nginx auth_request, Traefik forwardAuth, Caddy forward_auth, and Envoy ext_authz gRPC); needs --authz-routes and --trusted-proxies naming the gateways; required by serve authz; empty turns it off", func(c *Config, v string) error {
		c.AuthzAddr = v
		if v == "" {
			return nil
		}
		return checkAddr(v)
	}},
	{"authz-routes", "", "YAML file of the routes the gateway authorizer allows (method, path, scopes, credential kinds); unmatched requests are refused; re-read on SIGHUP and when the file changes", func(c *Config, v string) error {
		c.AuthzRoutes = v
		return nil
	}},
	{"authz-tls", "false", "serve --authz-addr over TLS with the mTLS listener's server certificate, requiring a client certificate from a trusted CA (the platform CA, --tls-client-ca) of every gateway, on top of --trusted-proxies", boolOption(func(c *Config) *bool { return &c.AuthzTLS })},
	{"authz-client-cert-header", "", "header in which the gateways that terminate the clients' mTLS state the client certificate to the gateway authorizer (URL-encoded PEM as nginx's $ssl_client_escaped_cert, PEM, base64 DER, or x-forwarded-client-cert as Envoy writes it; Envoy's ext_authz source.certificate is read too): it binds certificate-bound tokens and is the credential of mtls routes; the gateways must overwrite any copy the client sent; empty: no certificate is read", func(c *Config, v string) error {
		if v != "" && !validHeaderName(v) {
			return errors.New("must be an HTTP header name")
		}
		c.AuthzClientCertHeader = v
		return nil
	}},
	{"tls-cert", "", "PEM server certificate (chain) of the mTLS and admin listeners; empty: one is generated at start", func(c *Config, v string) error {
		c.TLSCertFile = v
		return nil
	}},
	{"tls-key", "", "PEM private key of --tls-cert", func(c *Config, v string) error {
		c.TLSKeyFile = v
		return nil
	}},
	{"tls-client-ca", "", "PEM bundle of CAs whose client certificates the mTLS listener trusts, besides the platform CA", func(c *Config, v string) error {
		c.ClientCAFile = v
		return nil
	}},
	{"peer-clients", "", "split deployment: comma-separated gRPC addresses (mTLS listeners) of the client registry's replicas; dns:///host:port for all a name resolves to", func(c *Config, v string) error {
		c.PeerClients = splitAddrs(v)
		return checkAddrs(c.PeerClients)
	}},
	{"peer-revocation", "", "split deployment: comma-separated gRPC addresses (mTLS listeners) of the revocation service's replicas; dns:///host:port for all a name resolves to", func(c *Config, v string) error {
		c.PeerRevocation = splitAddrs(v)
		return checkAddrs(c.PeerRevocation)
	}},
	{"peer-keys", "", "split deployment: comma-separated gRPC addresses (mTLS listeners) of the key service's replicas; dns:///host:port for all a name resolves to", func(c *Config, v string) error {
		c.PeerKeys = splitAddrs(v)
		return checkAddrs(c.PeerKeys)
	}},
	{"peer-token", "", "split deployment: comma-separated gRPC addresses (mTLS listeners) of the token service's replicas (serve gateway); dns:///host:port for all a name resolves to", func(c *Config, v string) error {
		c.PeerToken = splitAddrs(v)
		return checkAddrs(c.PeerToken)
	}},
	{"peer-inventory", "", "split deployment: comma-separated gRPC addresses (mTLS listeners) of the example inventory API's replicas (serve gateway); dns:///host:port for all a name resolves to", func(c *Config, v string) error {
		c.PeerInventory = splitAddrs(v)
		return checkAddrs(c.PeerInventory)
	}},
	{"peer-cert", "", "split deployment: PEM certificate of this service's identity (gatehouse service-cert), presented to its peers, and on its mTLS listener unless --tls-cert is given", func(c *Config, v string) error {
		c.PeerCertFile = v
		return nil
	}},
	{"peer-key", "", "PEM private key of --peer-cert", func(c *Config, v string) error {
		c.PeerKeyFile = v
		return nil
	}},
	{"peer-ca", "", "split deployment: PEM bundle of the platform CA, which issued the peers' certificates", func(c *Config, v string) error {
		c.PeerCAFile = v
		return nil
	}},
	{"peer-timeout", "5s", "deadline of a call to a peer service made without one; a peer that does not answer in time is Unavailable", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		c.PeerTimeout = d
		return err
	}},
	{"jwks-url", "", "serve inventory and serve authz without --peer-keys: where the issuer's signing keys are read; empty: <issuer>/.well-known/jwks.json (https, or http on loopback)", func(c *Config, v string) error {
		c.JWKSURL = v
		return nil
	}},
	{"otlp-endpoint", "", "host:port of an OpenTelemetry collector (OTLP/gRPC, TLS) to export traces to; empty turns tracing off", func(c *Config, v string) error {
		c.OTLPEndpoint = v
		if v == "" {
			return nil
		}
		return checkAddr(v)
	}},
	{"otlp-insecure", "false", "export traces to --otlp-endpoint in plaintext (a collector on a loopback address only)", boolOption(func(c *Config) *bool { return &c.OTLPInsecure })},
	{"grpc-reflection", "false", "serve gRPC server reflection on the gRPC listeners, to anyone who reaches them: it lists and describes every service, admin ones included (grpcurl works without it given -proto or -protoset from gen/)", boolOption(func(c *Config) *bool { return &c.GRPCReflection })},
	{"trusted-proxies", "", "comma-separated addresses or CIDR prefixes of the reverse proxies in front of Gatehouse: a request from one of them is counted against the rightmost X-Forwarded-For address that is not a trusted proxy (failure budgets, rate limits, audit); a header from anyone else is ignored", func(c *Config, v string) error {
		p, err := authn.ParseTrustedProxies(strings.Split(v, ","))
		c.TrustedProxies = p
		return err
	}},
	{"dpop-algorithms", "ES256,EdDSA", "comma-separated JWS algorithms accepted for DPoP proofs (RFC 9449) at the token endpoint and the validators: ES256, ES384, ES512, EdDSA, RS256, RS384, RS512, PS256, PS384, PS512; never none or HS*", func(c *Config, v string) error {
		algs := strings.Split(v, ",")
		for i := range algs {
			algs[i] = strings.TrimSpace(algs[i])
		}
		c.DPoPAlgorithms = algs
		return checkDPoPAlgorithms(algs)
	}},
	{"dpop-window", "60s", "how far a DPoP proof's iat may be from now, either way (1s to 10m); the replay cache remembers a proof twice as long", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		if err == nil && (d < time.Second || d > 10*time.Minute) {
			err = errors.New("must be between 1s and 10m")
		}
		c.DPoPWindow = d
		return err
	}},
	{"dpop-token-nonce", "true", "make the token endpoint demand a server nonce in DPoP proofs (use_dpop_nonce, RFC 9449 §8); the nonces are keyed from the device key, so replicas sharing it accept each other's", boolOption(func(c *Config) *bool { return &c.DPoPTokenNonce })},
	{"dpop-resource-nonce", "false", "make the validators of this process (gRPC, the REST facade, UserInfo, the gateway authorizer) demand a server nonce in DPoP proofs (WWW-Authenticate: DPoP error=\"use_dpop_nonce\" with DPoP-Nonce; over gRPC the ErrorInfo metadata dpop_nonce, RFC 9449 §9); keyed from the device key like the token endpoint's", boolOption(func(c *Config) *bool { return &c.DPoPResourceNonce })},
	{"require-par", "false", "accept authorization requests at /oauth2/authorize only by a request_uri from /oauth2/par (RFC 9126), for every client; without it, only for clients registered with --require-pushed-authorization-requests", boolOption(func(c *Config) *bool { return &c.RequirePAR })},
	{"example-inventory", "false", "also serve the example inventory API (/v1/inventory/items) protected by pkg/authn, and the example SPA under /spa/", boolOption(func(c *Config) *bool { return &c.ExampleInventory })},
}

// checkIssuer enforces RFC 8414 §2: an https URL without query or
// fragment; http is allowed on loopback for development and tests.
func checkIssuer(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(v, "/") {
		return errors.New("must be an absolute URL without query, fragment or trailing slash")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopback.Host(u.Hostname()) {
			return nil
		}
	}
	return errors.New("must be https (http only on a loopback host)")
}

// splitAddrs reads a comma-separated address list; empty means none.
func splitAddrs(v string) []string {
	var out []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// checkAddrs checks a peer's addresses: host:port, or dns:///host:port for
// every address a name resolves to (internal/peers).
func checkAddrs(addrs []string) error {
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(strings.TrimPrefix(a, "dns:///"))
		if err != nil || host == "" || port == "" {
			return fmt.Errorf("%s: must be host:port or dns:///host:port", a)
		}
	}
	return nil
}

// wildcardAddr reports whether host:port listens on every address
// (0.0.0.0, ::, or no host).
func wildcardAddr(v string) bool {
	host, _, err := net.SplitHostPort(v)
	if err != nil {
		return false
	}
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// boolOption is the setter of a true/false option that sets the field.
func boolOption(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		*field(c) = b
		return nil
	}
}

func checkAddr(v string) error {
	if _, _, err := net.SplitHostPort(v); err != nil {
		return errors.New("must be host:port")
	}
	return nil
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("must be a positive duration such as 30s")
	}
	return d, nil
}

// EnvName is the environment variable of an option.
func EnvName(name string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Error is an invalid option; its message is one line naming the option.
type Error struct {
	Option string
	Source string
	// Line is the line of the config file (Source) the error is on; 0
	// when it is not from the file, or not from one line of it.
	Line int
	Err  error
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Option == "config":
		// The file itself is wrong (a key, its syntax): where, then what,
		// as compilers and editors expect.
		return fmt.Sprintf("%s:%d: %v", e.Source, e.Line, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: invalid option %s: %v", e.Source, e.Line, e.Option, e.Err)
	}
	return fmt.Sprintf("invalid option %s (from %s): %v", e.Option, e.Source, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Load parses args (what follows `serve`) with the environment given by
// getenv. A leading non-flag argument names the one service to run.
func Load(args []string, getenv func(string) string, usage io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("gatehouse serve", flag.ContinueOnError)
	fs.SetOutput(usage)
	values := make(map[string]*string, len(options))
	for _, o := range options {
		values[o.Name] = fs.String(o.Name, o.Default, fmt.Sprintf("%s (env %s)", o.Help, EnvName(o.Name)))
	}
	configFile := fs.String("config", "", "optional YAML file with the same option names as keys (env GATEHOUSE_CONFIG)")
	// Boolean options accept a bare flag (--example-inventory).
	for _, o := range options {
		if o.Default == "false" {
			fs.Lookup(o.Name).Value = &boolString{values[o.Name]}
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(usage, "usage: gatehouse serve [%s] [flags]\n\nRuns every service in one process, or only the named one (authz: the gateway authorizer alone, on --authz-addr).\nPrecedence: flags, then GATEHOUSE_* environment variables, then --config YAML, then defaults.\n\n", strings.Join(Services, "|"))
		fs.PrintDefaults()
	}
	c := &Config{}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		c.Service = args[0]
		args = args[1:]
		if !slices.Contains(Services, c.Service) {
			return nil, &Error{Option: "service", Source: "arguments", Err: fmt.Errorf("unknown service %q (want one of %s)", c.Service, strings.Join(Services, ", "))}
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, &Error{Option: "arguments", Source: "arguments", Err: fmt.Errorf("unexpected %q", fs.Arg(0))}
	}
	setByFlag := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setByFlag[f.Name] = true })

	path := *configFile
	if !setByFlag["config"] && getenv("GATEHOUSE_CONFIG") != "" {
		path = getenv("GATEHOUSE_CONFIG")
	}
	fromFile := map[string]fileValue{}
	if path != "" {
		var err error
		if fromFile, err = readYAML(path); err != nil {
			return nil, err
		}
	}
	c.KEK = getenv("GATEHOUSE_KEK")
	for _, o := range options {
		v, src, line := o.Default, "default", 0
		switch {
		case setByFlag[o.Name]:
			v, src = *values[o.Name], "flag --"+o.Name
		case getenv(EnvName(o.Name)) != "":
			v, src = getenv(EnvName(o.Name)), EnvName(o.Name)
		default:
			if fv, ok := fromFile[o.Name]; ok {
				v, src, line = fv.value, path, fv.line
			}
		}
		if err := o.set(c, v); err != nil {
			return nil, &Error{Option: o.Name, Source: src, Line: line, Err: err}
		}
	}
	if c.OTLPInsecure && c.OTLPEndpoint != "" && !loopback.HostPort(c.OTLPEndpoint) {
		return nil, &Error{Option: "otlp-insecure", Source: "configuration", Err: errors.New("plaintext export is allowed to a loopback --otlp-endpoint only")}
	}
	if err := c.checkAuthz(); err != nil {
		return nil, err
	}
	if err := c.checkSplit(); err != nil {
		return nil, err
	}
	if c.KeyPublishLead < c.JWKSMaxAge {
		return nil, &Error{Option: "key-publish-lead", Source: "configuration", Err: errors.New("must be at least --jwks-max-age, so validators know a key before it signs")}
	}
	return c, nil
}

// fileValue is an option's value in the config file and the line it is on.
type fileValue struct {
	value string
	line  int
}

// yamlLine finds the line number yaml.v3 puts at the start of its syntax
// errors ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// readYAML reads the config file as a YAML node tree rather than into a
// map, so that every error names the line it is on.
func readYAML(path string) (map[string]fileValue, error) {
	fail := func(line int, err error) error {
		return &Error{Option: "config", Source: path, Line: line, Err: err}
	}
	b, err := os.ReadFile(path) //nolint:gosec // the operator names the config file
	if err != nil {
		return nil, fail(0, errors.New("cannot read the file"))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, fail(line, fmt.Errorf("not valid YAML: %s", m[2]))
		}
		return nil, fail(0, fmt.Errorf("not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	out := map[string]fileValue{}
	if len(doc.Content) == 0 {
		return out, nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, errors.New("must be a mapping of option names to values"))
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := k.Value
		if !slices.ContainsFunc(options, func(o option) bool { return o.Name == name }) {
			return nil, fail(k.Line, unknownKey(name))
		}
		if prev, dup := out[name]; dup {
			return nil, fail(k.Line, fmt.Errorf("key %q given twice (first on line %d)", name, prev.line))
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return nil, fail(v.Line, fmt.Errorf("key %q must have a single value (a string, number or boolean)", name))
		}
		// The value as written: 1.50 stays 1.50, and durations, addresses
		// and booleans reach the option's parser exactly as on the command
		// line.
		out[name] = fileValue{value: v.Value, line: v.Line}
	}
	return out, nil
}

// unknownKey suggests the option a key most likely meant: the same name
// with dashes, or with the flag's leading dashes dropped.
func unknownKey(name string) error {
	guess := strings.ToLower(strings.TrimLeft(strings.ReplaceAll(name, "_", "-"), "-"))
	if guess != name && slices.ContainsFunc(options, func(o option) bool { return o.Name == guess }) {
		return fmt.Errorf("unknown key %q (did you mean %q?)", name, guess)
	}
	return fmt.Errorf("unknown key %q", name)
}

// Options lists every option's name, default and environment variable, for
// the README's configuration table and the deployment-file checks.
func Options() [][3]string {
	out := make([][3]string, 0, len(options))
	for _, o := range options {
		out = append(out, [3]string{o.Name, o.Default, EnvName(o.Name)})
	}
	return out
}

// boolString lets a string-valued option behave as a boolean flag.
type boolString struct{ p *string }

func (b *boolString) String() string {
	if b.p == nil {
		return ""
	}
	return *b.p
}

func (b *boolString) Set(v string) error { *b.p = v; return nil }

// IsBoolFlag makes `--flag` mean `--flag=true`.
func (b *boolString) IsBoolFlag() bool { return true }

func parseTiers(v string) (map[string]Tier, error) {
	out := map[string]Tier{}
	for _, part := range strings.Split(v, ",") {
		name, spec, ok := strings.Cut(strings.TrimSpace(part), "=")
		rateS, burstS, ok2 := strings.Cut(spec, ":")
		if !ok || !ok2 || !slices.Contains([]string{"low", "standard", "high", "internal"}, name) {
			return nil, fmt.Errorf("%q is not tier=rate:burst with tier low, standard, high or internal", part)
		}
		rate, err1 := strconv.ParseFloat(rateS, 64)
		burst, err2 := strconv.Atoi(burstS)
		if err1 != nil || err2 != nil || rate <= 0 || burst < 1 {
			return nil, fmt.Errorf("%q: rate must be > 0 and burst >= 1", part)
		}
		out[name] = Tier{PerSecond: rate, Burst: burst}
	}
	if _, ok := out["standard"]; !ok {
		return nil, errors.New("the standard tier is required")
	}
	return out, nil
}

// retention reads a retention period: a Go duration, or whole days ("365d"),
// which operators think in and time.ParseDuration lacks.
func retention(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, errors.New("must be a duration or a number of days, as 365d")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("must be a duration or a number of days, as 365d")
	}
	return d, nil
}

// checkDPoPAlgorithms refuses an empty list and any algorithm pkg/dpop
// does not accept for proofs (none, HS*, unknown names).
func checkDPoPAlgorithms(algs []string) error {
	list := make([]jwa.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		list[i] = jwa.SignatureAlgorithm(a)
	}
	if _, err := dpop.NewVerifier(dpop.WithAlgorithms(list...)); err != nil {
		return err
	}
	return nil
}
