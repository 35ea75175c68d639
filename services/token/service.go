package token

import (
	"errors"
	"fmt"
	"log/slog"

	tokenv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"github.com/prometheus/client_golang/prometheus"
)

// Service is the token service: the OAuth HTTP endpoints (Routes) and the
// gRPC TokenService, over one core.
type Service struct {
	tokenv1.UnimplementedTokenServiceServer

	cfg       Config
	endpoints Endpoints
	log       *slog.Logger
	clients   Clients
	verifier  Verifier
	revoker   Revoker
	grants    grantstore.Store
	users     Users
	limiter   *ratelimit.Limiter
	cache     *verifiedCache
	// public holds the registry's answers for clients that present only
	// their client_id (public and mTLS clients), dropped as cache is.
	public   *verifiedCache
	failures *failureGate
	checks   *passwordChecks
	// grants are the grant types served, one handler each. Grant types
	// the registry knows but this service does not serve yet
	// (authorization_code, refresh_token) are absent: unsupported_grant_type.
	grantHandlers     map[string]grantHandler
	clientCredentials *clientCredentialsGrant
	metadata          []byte
	// oidcMetadata is the OpenID Connect discovery document.
	oidcMetadata []byte
	keySets      keySetCache
	backchannel  *backchannel
	// issued counts the access tokens issued, by grant type.
	issued *prometheus.CounterVec
	// dpop verifies the DPoP proofs of token requests (RFC 9449 §5).
	dpop *dpop.Verifier
	// dpopUserInfo verifies the proofs sent to UserInfo, a resource (RFC
	// 9449 §7): no server nonce there, as at the process's validators.
	dpopUserInfo *dpop.Verifier
}

var _ tokenv1.TokenServiceServer = (*Service)(nil)

// New returns a Service. clients authenticates clients, signer supplies the
// signing key per token, and verifier validates tokens for introspection.
func New(cfg Config, clients Clients, signer Signer, verifier Verifier) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if clients == nil || signer == nil || verifier == nil {
		return nil, errors.New("token: clients, signer and verifier are required")
	}
	s := &Service{
		cfg:       cfg,
		endpoints: cfg.endpoints(),
		log:       cfg.Logger,
		clients:   clients,
		verifier:  verifier,
		revoker:   cfg.Revoker,
		grants:    cfg.Grants,
		users:     cfg.Users,
		limiter:   cfg.Limiter,
		cache:     newVerifiedCache(cfg.CacheTTL, cfg.CacheSize),
		public:    newVerifiedCache(cfg.CacheTTL, cfg.CacheSize),
		failures:  newFailureGate(cfg.Limiter),
		checks:    newPasswordChecks(cfg.PasswordChecks),
	}
	s.backchannel = newBackchannel(s)
	resourceCfg := cfg
	resourceCfg.DPoPNoNonce = true
	if s.dpopUserInfo, err = newDPoPVerifier(resourceCfg); err != nil {
		return nil, err
	}
	if s.dpop, err = newDPoPVerifier(cfg); err != nil {
		return nil, err
	}
	s.clientCredentials = &clientCredentialsGrant{
		minter:          newJWTMinter(cfg.Issuer, signer, cfg.Now),
		defaultAudience: cfg.DefaultAudience,
	}
	s.grantHandlers = map[string]grantHandler{grantClientCredentials: s.clientCredentials}
	if (cfg.Grants == nil) != (cfg.Users == nil) {
		return nil, errors.New("token: the authorization-code flow needs both Grants and Users")
	}
	if cfg.Grants != nil {
		ug := userGrants{s: s, minter: s.clientCredentials.minter}
		s.grantHandlers[grantAuthorizationCode] = &codeGrant{ug}
		s.grantHandlers[grantRefreshToken] = &refreshGrant{ug}
	}
	if s.metadata, s.oidcMetadata, err = buildDiscovery(cfg, s.endpoints); err != nil {
		return nil, err
	}
	s.issued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_tokens_issued_total",
		Help: "Access tokens issued, by grant type.",
	}, []string{"grant_type"})
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(s.issued); err != nil {
			return nil, fmt.Errorf("token: register metrics: %w", err)
		}
	}
	// Every grant served from the start, so that rate() works from zero.
	for gt := range s.grantHandlers {
		s.issued.WithLabelValues(gt)
	}
	return s, nil
}

// Endpoints returns the URLs derived from the issuer.
func (s *Service) Endpoints() Endpoints { return s.endpoints }

// Metadata returns the RFC 8414 document, the bytes both well-known URLs and
// GetServerMetadata serve.
func (s *Service) Metadata() []byte { return append([]byte(nil), s.metadata...) }

// InvalidateClient drops every cached secret verification of the client,
// and its cached registration.
func (s *Service) InvalidateClient(id string) {
	s.cache.dropClient(id)
	s.public.dropClient(id)
}

// InvalidateAll empties the verification and registration caches.
func (s *Service) InvalidateAll() {
	s.cache.dropAll()
	s.public.dropAll()
}
