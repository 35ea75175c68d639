package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/reflect/protoregistry"

	// Register every Gatehouse contract, so the rules cover every RPC.
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
)

// auth is the validator every service of the process shares.
type auth struct {
	rules     *authn.Rules
	validator *authn.Validator
	close     func()
}

func newAuth(ctx context.Context, cfg *config.Config, log *slog.Logger, metrics prometheus.Registerer, nc *nats.Conn, verifier authn.APIKeyVerifier) (*auth, error) {
	rules, err := authn.RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		return nil, fmt.Errorf("auth rules: %w", err)
	}
	keys := authn.NewAPIKeyAuthenticator(verifier, authn.WithCacheTTL(cfg.APIKeyCacheTTL))
	// Changes published while the connection was down are lost to this
	// subscriber, so a reconnect drops every cached verification.
	nc.SetReconnectHandler(func(c *nats.Conn) {
		log.Info("nats reconnected; dropping cached API-key verifications", "url", c.ConnectedUrlRedacted())
		keys.InvalidateAll()
	})
	stop, err := keys.FollowClientChanges(ctx, nc)
	if err != nil {
		return nil, fmt.Errorf("follow client changes: %w", err)
	}
	limiter := ratelimit.New(ratelimit.DefaultTiers())
	recorder := audit.New(log, metrics, audit.NewNATSPublisher(nc), serviceName(cfg.Service))
	v := authn.NewValidator(rules,
		authn.WithAuthenticator(keys),
		authn.WithRateLimiter(limiter),
		authn.WithRecorder(recorder),
		authn.WithLogger(log),
		authn.WithRealm(realm),
		authn.WithService(serviceName(cfg.Service)),
		authn.WithTrustedForwarder(isGatewayPeer),
	)
	return &auth{rules: rules, validator: v, close: stop}, nil
}
