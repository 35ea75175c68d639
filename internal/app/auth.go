package app

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	adminaudit "github.com/gatehouse-dev/gatehouse/services/audit"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/reflect/protoregistry"

	// Register every Gatehouse contract, so the rules cover every RPC.
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
)

// registryPeer is what the validator needs of the client registry: API-key
// verification, and (for rate-limit tiers and certificate-alone
// credentials) client lookups, nil where the process may not look clients
// up. In process it is the registry; in a split deployment its gRPC client.
type registryPeer struct {
	apiKeys authn.APIKeyVerifier
	clients authn.ClientGetter
}

// auth is the validator every service of the process shares.
type auth struct {
	rules     *authn.Rules
	validator *authn.Validator
	recorder  audit.Recorder
	apiKeys   *authn.APIKeyAuthenticator
	// certs is nil without an mTLS listener.
	certs *authn.ClientCertAuthenticator
	// jwt is nil when no key service is reachable (`serve clients`).
	jwt *authn.JWTAuthenticator
	// newJWT makes another JWT authenticator like jwt for audience (the
	// gateway authorizer's routes that name one); nil without jwt.
	newJWT func(audience string) *authn.JWTAuthenticator
	tiers  *authn.TierCache
	close  func()
	// admin is the admin audit trail, set once the stores are open.
	admin *adminAudit
}

// newAuth builds the validator. jwks is where the JWT authenticator reads
// the signing keys; nil leaves JWTs unsupported.
func newAuth(ctx context.Context, cfg *config.Config, issuer string, log *slog.Logger, metrics prometheus.Registerer,
	nc *nats.Conn, registry registryPeer, jwks authn.JWKSSource, revoked authn.RevocationChecker, mtls *mtlsListener) (*auth, error) {
	rules, err := authn.RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		return nil, fmt.Errorf("auth rules: %w", err)
	}
	a := &auth{rules: rules}
	a.apiKeys = authn.NewAPIKeyAuthenticator(registry.apiKeys, authn.WithCacheTTL(cfg.APIKeyCacheTTL))
	stopKeys, err := a.apiKeys.FollowClientChanges(ctx, nc)
	if err != nil {
		return nil, fmt.Errorf("follow client changes: %w", err)
	}
	a.close = stopKeys
	opts := []authn.Option{authn.WithAuthenticator(a.apiKeys), authn.WithRevocationChecker(revoked)}
	if mtls != nil && registry.clients != nil {
		// The certificate alone, for the methods whose rule takes it: a
		// client's, or a service's of a split deployment, whose requests
		// forwarded from a gateway service are known by its mark.
		services := authn.NewServiceIdentities(mtls.platform, serviceScopes, authn.WithValidatorRole(validatorScopes...))
		opts = append(opts, authn.WithTrustedForwarderPeer(authn.ForwardedBy(services, "gateway")))
		a.certs = authn.NewClientCertAuthenticator(registry.clients, mtls.platform, mtls.trust,
			authn.WithCacheTTL(cfg.APIKeyCacheTTL), authn.WithServiceIdentities(services))
		stopCerts, err := a.certs.FollowClientChanges(ctx, nc)
		if err != nil {
			stopKeys()
			return nil, fmt.Errorf("follow client changes: %w", err)
		}
		a.close = func() { stopCerts(); stopKeys() }
		opts = append(opts, authn.WithCertAuthenticator(a.certs))
	}
	if jwks != nil {
		a.newJWT = func(audience string) *authn.JWTAuthenticator {
			return authn.NewJWTAuthenticator(jwks,
				authn.WithIssuer(issuer),
				authn.WithAudience(audience),
				authn.WithClockSkew(cfg.ClockSkew),
				authn.WithJWKSMaxAge(cfg.JWKSMaxAge),
				authn.WithJWTLogger(log))
		}
		a.jwt = a.newJWT(cfg.DefaultAudience)
		if err := a.jwt.ConfigError(); err != nil {
			a.close()
			return nil, fmt.Errorf("jwt validation: %w", err)
		}
		stopJWT, err := a.jwt.FollowKeyRotations(ctx, nc)
		if err != nil {
			a.close()
			return nil, fmt.Errorf("follow key rotations: %w", err)
		}
		stopBefore := a.close
		a.close = func() { stopJWT(); stopBefore() }
		opts = append(opts, authn.WithAuthenticator(a.jwt))
		// DPoP-bound tokens (RFC 9449 §7) with the default algorithms; the
		// htu is the request's own (the :authority for gRPC). Each replica
		// has its own replay cache (docs/dpop.md).
		proofs, err := dpopVerifier(cfg, log)
		if err != nil {
			a.close()
			return nil, fmt.Errorf("dpop: %w", err)
		}
		opts = append(opts, authn.WithDPoP(proofs, ""))
		if registry.clients != nil {
			tiers := authn.NewTierCache(registry.clients)
			stopTiers, err := tiers.FollowClientChanges(ctx, nc)
			if err != nil {
				a.close()
				return nil, fmt.Errorf("follow client changes: %w", err)
			}
			a.tiers = tiers
			stopBefore := a.close
			a.close = func() { stopTiers(); stopBefore() }
			opts = append(opts, authn.WithTierResolver(tiers.Tier))
		}
	}
	limiter := ratelimit.New(clientTiers(cfg))
	// Failed authentications per caller address: a burst of 30, then one
	// every 2 s; an address over budget is refused without verification.
	failures := ratelimit.New(map[string]ratelimit.Tier{"authfail": {Rate: 0.5, Burst: 30}})
	a.recorder = audit.New(log, metrics, audit.NewNATSPublisher(nc), serviceName(cfg.Service))
	a.validator = authn.NewValidator(rules, append(opts,
		authn.WithRateLimiter(limiter),
		authn.WithFailureLimiter(failures, "authfail", nil),
		authn.WithRecorder(adminaudit.TapFailures(a.recorder)),
		authn.WithLogger(log),
		authn.WithRealm(realm),
		authn.WithService(serviceName(cfg.Service)),
		authn.WithTrustedForwarder(isGatewayPeer),
		authn.WithTrustedProxies(cfg.TrustedProxies...),
	)...)
	return a, nil
}

// clientTiers are the clients' request budgets as configured with
// --rate-limit-tiers: the validators' and the token service's limiters
// take them both (checklist item 90).
func clientTiers(cfg *config.Config) map[string]ratelimit.Tier {
	budgets := make(map[string]ratelimit.Tier, len(cfg.RateLimitTiers))
	for name, t := range cfg.RateLimitTiers {
		budgets[name] = ratelimit.Tier{Rate: rate.Limit(t.PerSecond), Burst: t.Burst}
	}
	return budgets
}

// dpopVerifier is the validators' DPoP proof verifier, with the configured
// algorithms and window, demanding a server nonce with
// --dpop-resource-nonce.
func dpopVerifier(cfg *config.Config, log *slog.Logger) (*dpop.Verifier, error) {
	opts := dpop.Configured(cfg.DPoPAlgorithms, cfg.DPoPWindow)
	if cfg.DPoPResourceNonce {
		// Keyed like the token endpoint's (another purpose), from the
		// secret the replicas share.
		secret, err := deviceCookieKey(cfg, log)
		if err != nil {
			return nil, err
		}
		if len(secret) == 0 {
			log.Warn("the validators' DPoP nonces are keyed by this process: set --device-key so that replicas accept each other's")
			secret = make([]byte, 32)
			if _, err := rand.Read(secret); err != nil {
				return nil, err
			}
		}
		n, err := dpop.NoncesFromSecret(secret, "resource")
		if err != nil {
			return nil, err
		}
		opts = append(opts, dpop.WithNonces(n))
	}
	return dpop.NewVerifier(opts...)
}
