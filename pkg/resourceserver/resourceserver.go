// Package resourceserver protects a service with Gatehouse in one call:
// it reads the issuer's discovery document, and builds the validator that
// Gatehouse's own services use (pkg/authn) with everything around it: JWT
// validation against the issuer's JWKS, API keys verified by the client
// registry, the revocation list (pkg/revlist) pushed over NATS or over the
// revocation service's Watch stream, key rotations applied at once, rate
// limits per client and tier, a failure budget per caller address, and an
// audit record of every refusal.
//
//	rs, err := resourceserver.New(ctx, resourceserver.Config{
//		Issuer:    "https://gatehouse.example",
//		Audience:  "https://orders.example",
//		Service:   "orders",
//		Rules:     rules, // authn.RulesFromServer(grpcServer, nil)
//		Gatehouse: "gatehouse.example:9443",
//		Credentials: resourceserver.Credentials{Certificate: &cert}, // gatehouse service-cert --name orders --role validator
//	})
//	defer rs.Close()
//	grpc.NewServer(grpc.ChainUnaryInterceptor(rs.UnaryInterceptor()), grpc.ChainStreamInterceptor(rs.StreamInterceptor()))
//	mux.Handle("GET /orders", rs.RequireScopes("orders:read")(list))
//
// Every optional part is on by default; turning one off is explicit
// (Config.Disable).
package resourceserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/clientcreds"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Config is what New needs. Issuer, Audience, Service and Rules are
// required; Gatehouse and Credentials are required unless Disable turns
// off every part that calls Gatehouse (API keys, revocation, tiers).
type Config struct {
	// Issuer is Gatehouse's issuer URL (its tokens' iss). New reads its
	// discovery document for the JWKS and token endpoints.
	Issuer string
	// Audience is the audience this service's tokens carry (aud): a token
	// for another service is refused.
	Audience string
	// Service names this service in logs, audit records and metrics.
	Service string
	// Rules are the auth rules of every gRPC method (and the rules the
	// HTTP middleware is given per route): authn.RulesFromServer reads
	// them from the protos of the services registered on a *grpc.Server
	// and fails if a method has none.
	Rules *authn.Rules

	// Gatehouse is the gRPC address (host:port) of Gatehouse: its mTLS
	// listener for a certificate, its gRPC listener for a client secret.
	Gatehouse string
	// Credentials is how this service authenticates to Gatehouse.
	Credentials Credentials
	// RootCAs verifies Gatehouse's TLS certificates (HTTP and gRPC); nil
	// means the system roots.
	RootCAs *x509.CertPool
	// Insecure speaks plaintext gRPC to Gatehouse. It is accepted only
	// for a loopback address (a laptop, a test).
	Insecure bool
	// HTTPClient fetches the discovery document and the JWKS; nil means
	// one that trusts RootCAs.
	HTTPClient *http.Client

	// NATS, when given, carries revocations, key rotations and client
	// changes (the fast path Gatehouse's own services use). Without it the
	// revocation list and key rotations come over the revocation
	// service's Watch stream.
	NATS *nats.Conn

	// RateLimits are the request budgets per tier name (pkg/ratelimit);
	// nil means ratelimit.DefaultTiers(). They should match Gatehouse's
	// --rate-limit-tiers.
	RateLimits map[string]ratelimit.Tier
	// FailureBudget is how many failed authentications an address may
	// make (Burst, then Rate per second) before it is refused without
	// verification; zero means a burst of 30, then one every 2 s.
	FailureBudget ratelimit.Tier
	// ClockSkew is the leeway on exp, nbf and iat; zero means
	// authn.DefaultClockSkew.
	ClockSkew time.Duration
	// UnknownKIDCooldown is the least time between two JWKS fetches
	// caused by tokens with an unknown kid; zero means
	// authn.DefaultUnknownKIDCooldown. Key events refetch regardless.
	UnknownKIDCooldown time.Duration
	// APIKeyCacheTTL is how long an accepted API key is trusted without
	// asking the registry again; zero means authn.DefaultCacheTTL.
	APIKeyCacheTTL time.Duration
	// RevocationResyncInterval is how often the list is re-read with List
	// as a safety net besides the pushed entries; zero means revlist's
	// default.
	RevocationResyncInterval time.Duration
	// RevocationMaxStaleness is how long the list may go without contact
	// before requests are refused (fail closed); zero means revlist's
	// default.
	RevocationMaxStaleness time.Duration
	// TrustedProxies are the addresses of proxies whose X-Forwarded-For
	// names the caller (for the failure budget and the audit).
	TrustedProxies []string

	// DPoP, when given, accepts DPoP-bound tokens (RFC 9449) with a proof
	// it checks (authn.WithDPoP); without it they are refused. DPoPOrigin
	// is the scheme://host clients reach the service at, for the proofs'
	// htu; empty takes each request's own host (:authority for gRPC).
	DPoP       *dpop.Verifier
	DPoPOrigin string

	// MetricNamespace prefixes the metrics (<ns>_auth_failures_total);
	// empty means the Service name.
	MetricNamespace string
	// ErrorDomain is the google.rpc.ErrorInfo domain of refusals; empty
	// means authn.ErrorDomain ("gatehouse").
	ErrorDomain string
	// Logger receives the service's auth logs; nil means slog.Default().
	Logger *slog.Logger
	// Metrics registers the metrics; nil registers none.
	Metrics prometheus.Registerer

	// Disable turns parts off.
	Disable Disable
}

// Credentials is the service's own identity at Gatehouse: one of a
// certificate or a client secret. Both carry the gatehouse:validator
// scope: read the revocation list, verify the API keys presented to this
// service, read client tiers; nothing else.
type Credentials struct {
	// Certificate is a service identity from `gatehouse service-cert
	// --name <service> --role validator`, presented to Gatehouse's mTLS
	// listener; the certificate alone is the credential.
	Certificate *tls.Certificate
	// ClientID and ClientSecret are a client from `gatehouse clients
	// create --type service`; the service gets tokens with the client
	// credentials grant, renews them before expiry, and when Gatehouse
	// refuses one (an emergency key rotation revoked it).
	ClientID     string
	ClientSecret string
}

// Disable turns parts off. Each refusal the part would make is then not
// made: say why in the code that sets it.
type Disable struct {
	// APIKeys refuses API keys (no registry lookups).
	APIKeys bool
	// Revocation skips the revocation list: a revoked token or key is
	// accepted until it expires.
	Revocation bool
	// RateLimit removes the per-client request budget.
	RateLimit bool
	// FailureBudget removes the per-address failure budget.
	FailureBudget bool
	// Tiers limits every JWT caller with the standard tier instead of
	// asking the registry for its client's.
	Tiers bool
}

// Server is a configured validator and what keeps it current.
type Server struct {
	validator *authn.Validator
	rules     *authn.Rules
	meta      *Metadata
	jwt       *authn.JWTAuthenticator
	apiKeys   *authn.APIKeyAuthenticator
	tiers     *authn.TierCache
	follower  *revlist.Follower
	conn      *grpc.ClientConn
	log       *slog.Logger

	// life is cancelled by Close; bg counts the goroutines that use it.
	life   context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	closeOnce sync.Once
	stops     []func()
}

// Defaults of the per-address failure budget: the values Gatehouse's own
// validators use.
const (
	defaultFailureRate  = 0.5
	defaultFailureBurst = 30
)

// serviceName is what Config.Service may be: it names a metric prefix too.
var serviceName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// needsGatehouse reports whether a part that calls Gatehouse over gRPC is
// on.
func (c *Config) needsGatehouse() bool {
	return !c.Disable.APIKeys || !c.Disable.Revocation || !c.Disable.Tiers
}

func (c *Config) check() error {
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, errors.New("an Issuer is required"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("an Audience is required: a token for another service must be refused"))
	}
	if !serviceName.MatchString(c.Service) {
		errs = append(errs, fmt.Errorf("the Service name %q: lower-case letters, digits and _, starting with a letter", c.Service))
	}
	if c.Rules == nil {
		errs = append(errs, errors.New("the Rules are required (authn.RulesFromServer, authn.NewRules)"))
	}
	if c.needsGatehouse() {
		if c.Gatehouse == "" {
			errs = append(errs, errors.New("the Gatehouse gRPC address is required for API keys, revocation and tiers (or Disable them)"))
		}
		cr := c.Credentials
		switch {
		case cr.Certificate != nil && cr.ClientID != "":
			errs = append(errs, errors.New("the Credentials: a certificate or a client, not both"))
		case cr.Certificate == nil && (cr.ClientID == "" || cr.ClientSecret == ""):
			errs = append(errs, errors.New("the Credentials: a validator certificate, or a service client's id and secret, is required"))
		case cr.Certificate != nil && c.Insecure:
			errs = append(errs, errors.New("the Credentials: a certificate needs TLS; Insecure is for a client secret on loopback"))
		}
		if c.Insecure {
			host, _, err := net.SplitHostPort(c.Gatehouse)
			if err != nil || !loopback.Host(host) {
				errs = append(errs, fmt.Errorf("the Insecure option: %q is not a loopback address", c.Gatehouse))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("resourceserver: %w", err)
	}
	return nil
}

// New reads the issuer's discovery document and builds the validator and
// its followers. It fails when the configuration is incomplete or the
// discovery document cannot be read; the JWKS and the revocation list load
// in the background (Ready says when).
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("service", cfg.Service)
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true},
		}
	}
	meta, err := Discover(ctx, hc, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	s := &Server{rules: cfg.Rules, meta: meta, log: log}
	s.life, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	jwks := authn.NewHTTPJWKSSource(meta.JWKSURI, authn.WithJWKSHTTPClient(hc))
	if err := jwks.Err(); err != nil {
		return nil, fmt.Errorf("resourceserver: %w", err)
	}
	jwtOpts := []authn.JWTOption{
		authn.WithIssuer(meta.Issuer),
		authn.WithAudience(cfg.Audience),
		authn.WithJWTLogger(log),
	}
	if cfg.ClockSkew > 0 {
		jwtOpts = append(jwtOpts, authn.WithClockSkew(cfg.ClockSkew))
	}
	if cfg.UnknownKIDCooldown > 0 {
		jwtOpts = append(jwtOpts, authn.WithUnknownKIDCooldown(cfg.UnknownKIDCooldown))
	}
	s.jwt = authn.NewJWTAuthenticator(jwks, jwtOpts...)
	if err := s.jwt.ConfigError(); err != nil {
		return nil, fmt.Errorf("resourceserver: %w", err)
	}
	opts := []authn.Option{authn.WithAuthenticator(s.jwt)}

	if cfg.needsGatehouse() {
		if s.conn, err = dialGatehouse(&cfg, meta, hc); err != nil {
			return nil, err
		}
		registry := clientsv1.NewClientRegistryServiceClient(s.conn)
		if !cfg.Disable.APIKeys {
			var keyOpts []authn.APIKeyOption
			if cfg.APIKeyCacheTTL > 0 {
				keyOpts = append(keyOpts, authn.WithCacheTTL(cfg.APIKeyCacheTTL))
			}
			s.apiKeys = authn.NewAPIKeyAuthenticator(authn.VerifierFromClient(registry), keyOpts...)
			opts = append(opts, authn.WithAuthenticator(s.apiKeys))
		}
		if !cfg.Disable.Tiers {
			s.tiers = authn.NewTierCache(authn.ClientGetterFromClient(registry))
			opts = append(opts, authn.WithTierResolver(s.tiers.Tier))
		}
		if !cfg.Disable.Revocation {
			if err := s.followRevocations(ctx, &cfg, log); err != nil {
				return nil, err
			}
			opts = append(opts, authn.WithRevocationChecker(s.follower))
		}
	}
	if cfg.NATS != nil {
		if err := s.followNATS(ctx, cfg.NATS); err != nil {
			return nil, err
		}
	}
	// The first JWKS fetch, in the background: a token that arrives
	// first waits for it or fetches itself.
	s.bg.Go(func() {
		if err := s.jwt.Refresh(s.life); err != nil && s.life.Err() == nil {
			log.Warn("resourceserver: first JWKS fetch failed; retried on demand", "jwks_uri", meta.JWKSURI, "error", err)
		}
	})

	ns := cfg.MetricNamespace
	if ns == "" {
		ns = cfg.Service
	}
	var pub audit.Publisher
	if cfg.NATS != nil {
		pub = audit.NewNATSPublisher(cfg.NATS)
	}
	proxies, err := authn.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("resourceserver: TrustedProxies: %w", err)
	}
	opts = append(opts,
		authn.WithRecorder(audit.New(log, cfg.Metrics, pub, cfg.Service, audit.WithMetricNamespace(ns))),
		authn.WithLogger(log),
		authn.WithService(cfg.Service),
		authn.WithErrorDomain(cfg.ErrorDomain),
		authn.WithTrustedProxies(proxies...),
	)
	if !cfg.Disable.RateLimit {
		tiers := cfg.RateLimits
		if tiers == nil {
			tiers = ratelimit.DefaultTiers()
		}
		opts = append(opts, authn.WithRateLimiter(ratelimit.New(tiers)))
	}
	if !cfg.Disable.FailureBudget {
		budget := cfg.FailureBudget
		if budget.Burst == 0 {
			budget = ratelimit.Tier{Rate: defaultFailureRate, Burst: defaultFailureBurst}
		}
		opts = append(opts, authn.WithFailureLimiter(ratelimit.New(map[string]ratelimit.Tier{"authfail": budget}), "authfail", nil))
	}
	if cfg.DPoP != nil {
		opts = append(opts, authn.WithDPoP(cfg.DPoP, cfg.DPoPOrigin))
	}
	s.validator = authn.NewValidator(cfg.Rules, opts...)
	if public := cfg.Rules.Public(); len(public) > 0 {
		log.Info("resourceserver: public methods, served without a credential", "methods", public)
	}
	ok = true
	return s, nil
}

// dialGatehouse opens the connection the service's own calls use: API-key
// verification, the revocation list, client tiers.
func dialGatehouse(cfg *Config, meta *Metadata, hc *http.Client) (*grpc.ClientConn, error) {
	var dopts []grpc.DialOption
	cr := cfg.Credentials
	switch {
	case cr.Certificate != nil:
		dopts = append(dopts, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{*cr.Certificate}, RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12,
		})))
	default:
		if meta.TokenEndpoint == "" {
			return nil, errors.New("resourceserver: the discovery document has no token_endpoint for the service's client credentials")
		}
		src := clientcreds.New(clientcreds.Config{TokenURL: meta.TokenEndpoint, ClientID: cr.ClientID, ClientSecret: cr.ClientSecret, HTTPClient: hc})
		dopts = append(dopts, src.DialOptions()...)
		if cfg.Insecure {
			dopts = append(dopts, grpc.WithTransportCredentials(insecure.NewCredentials()))
		} else {
			dopts = append(dopts, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12})))
		}
	}
	conn, err := grpc.NewClient(cfg.Gatehouse, dopts...)
	if err != nil {
		return nil, fmt.Errorf("resourceserver: dial %s: %w", cfg.Gatehouse, err)
	}
	return conn, nil
}

// followRevocations starts the revocation follower and what reacts to its
// entries: a revoked client or key leaves the API-key and tier caches at
// once, and a revoked signing key (an emergency rotation) makes the JWT
// authenticator fetch the JWKS now, so that tokens of the new key are
// accepted without waiting for a cooldown.
func (s *Server) followRevocations(ctx context.Context, cfg *Config, log *slog.Logger) error {
	opts := []revlist.Option{
		revlist.WithLogger(log.With("component", "revlist")),
		revlist.WithOnApply(s.applied),
	}
	if cfg.NATS == nil {
		// Key changes come on the Watch stream; with NATS the JWT
		// authenticator follows them itself (followNATS).
		opts = append(opts, revlist.WithOnKeyEvent(s.keyEvent))
	}
	if cfg.RevocationMaxStaleness > 0 {
		opts = append(opts, revlist.WithMaxStaleness(cfg.RevocationMaxStaleness))
	}
	if cfg.RevocationResyncInterval > 0 {
		opts = append(opts, revlist.WithResyncInterval(cfg.RevocationResyncInterval))
	}
	src := revocationv1.NewRevocationServiceClient(s.conn)
	s.follower = revlist.NewFollower(revlist.ClientSource(src), cfg.NATS, opts...)
	if err := s.follower.Start(ctx); err != nil {
		return fmt.Errorf("resourceserver: revocation follower: %w", err)
	}
	s.stops = append(s.stops, s.follower.Close)
	return nil
}

// applied reacts to one applied revocation.
func (s *Server) applied(e *revocationv1.Entry) {
	switch e.GetKind() {
	case revocationv1.Kind_KIND_CLIENT:
		if s.apiKeys != nil {
			s.apiKeys.InvalidateClient(e.GetId())
		}
		if s.tiers != nil {
			s.tiers.Invalidate(e.GetId())
		}
	case revocationv1.Kind_KIND_API_KEY:
		if s.apiKeys != nil {
			s.apiKeys.InvalidateKey(e.GetId())
		}
	case revocationv1.Kind_KIND_SIGNING_KEY:
		s.keysChanged()
	}
}

// keysChanged fetches the JWKS now, bypassing the unknown-kid cooldown.
func (s *Server) keysChanged() { s.keyEvent(nil) }

// keyEvent applies a key change from the Watch stream (nil: the stream
// was re-established) without blocking the follower: the fetch runs on a
// goroutine of its own, bounded by keyFetchTimeout.
func (s *Server) keyEvent(ev *eventsv1.KeyRotated) {
	s.bg.Go(func() {
		ctx, cancel := context.WithTimeout(s.life, keyFetchTimeout)
		defer cancel()
		s.jwt.ApplyKeyEvent(ctx, ev)
	})
}

// keyFetchTimeout bounds a JWKS fetch caused by a key event.
const keyFetchTimeout = 30 * time.Second

// followNATS subscribes the caches to Gatehouse's events.
func (s *Server) followNATS(ctx context.Context, nc *nats.Conn) error {
	stop, err := s.jwt.FollowKeyRotations(ctx, nc)
	if err != nil {
		return fmt.Errorf("resourceserver: %w", err)
	}
	s.stops = append(s.stops, stop)
	if s.apiKeys != nil {
		if stop, err = s.apiKeys.FollowClientChanges(ctx, nc); err != nil {
			return fmt.Errorf("resourceserver: %w", err)
		}
		s.stops = append(s.stops, stop)
	}
	if s.tiers != nil {
		if stop, err = s.tiers.FollowClientChanges(ctx, nc); err != nil {
			return fmt.Errorf("resourceserver: %w", err)
		}
		s.stops = append(s.stops, stop)
	}
	return nil
}

// UnaryInterceptor validates every unary call against the rules.
func (s *Server) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return s.validator.UnaryServerInterceptor()
}

// StreamInterceptor validates every streaming call against the rules.
func (s *Server) StreamInterceptor() grpc.StreamServerInterceptor {
	return s.validator.StreamServerInterceptor()
}

// HTTPMiddleware validates every request to next against rule, with RFC
// 6750 challenges on refusal (authn.Validator.HTTPMiddleware).
func (s *Server) HTTPMiddleware(rule *authv1.AuthRule, next http.Handler) http.Handler {
	return s.validator.HTTPMiddleware(rule, next)
}

// RequireScopes is HTTPMiddleware for a route that needs every one of
// scopes from a JWT or an API key.
func (s *Server) RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	return s.validator.RequireScopes(scopes...)
}

// Require is HTTPMiddleware as a middleware constructor.
func (s *Server) Require(rule *authv1.AuthRule) func(http.Handler) http.Handler {
	return s.validator.Require(rule)
}

// Check fails when a method registered on srv has no rule. Call it after
// registering the services, before Serve.
func (s *Server) Check(srv authn.ServiceInfoProvider) error { return s.rules.Check(srv) }

// Validator is the underlying validator, for what this package does not
// wrap.
func (s *Server) Validator() *authn.Validator { return s.validator }

// Metadata is the issuer's discovery document as read by New.
func (s *Server) Metadata() *Metadata { return s.meta }

// RevocationStats is the revocation follower's state, for metrics and
// admin pages; the zero Stats when revocation is disabled.
func (s *Server) RevocationStats() revlist.Stats {
	if s.follower == nil {
		return revlist.Stats{}
	}
	return s.follower.Stats()
}

// Ready is nil once requests can be validated: the revocation list is
// loaded and fresh. Serve it from /readyz so that traffic is sent only
// to replicas that can answer.
func (s *Server) Ready() error {
	if s.follower == nil {
		return nil
	}
	return s.follower.Stats().Err()
}

// Close stops the followers and closes the connection to Gatehouse. It is
// safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		for i := len(s.stops) - 1; i >= 0; i-- {
			s.stops[i]()
		}
		s.cancel()
		s.bg.Wait()
		if s.conn != nil {
			_ = s.conn.Close()
		}
	})
}
