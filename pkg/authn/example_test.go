package authn_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/apikey"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// registry stands in for the client registry: it accepts one key.
type registry struct{ key string }

func (r registry) VerifyAPIKey(_ context.Context, req *clientsv1.VerifyAPIKeyRequest) (*clientsv1.VerifyAPIKeyResponse, error) {
	if req.GetApiKey() != r.key {
		return &clientsv1.VerifyAPIKeyResponse{Failure: clientsv1.APIKeyFailure_API_KEY_FAILURE_UNKNOWN}, nil
	}
	return &clientsv1.VerifyAPIKeyResponse{
		ClientId:      "partner-42",
		Scopes:        []string{"orders:read"},
		RateLimitTier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_STANDARD,
	}, nil
}

// Wiring the interceptors on a gRPC server: rules from the registered
// contracts, API keys checked by the client registry, rate limits per
// client, failures logged, counted and published.
func Example() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	// Import the generated packages of the served services so that their
	// descriptors (and rules) are in protoregistry.GlobalFiles.
	rules, err := authn.RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	for _, m := range rules.Missing() {
		logger.Warn("method without auth rule is refused", "method", m)
	}

	// In process, the registry's gRPC server is the verifier; in a split
	// deployment use authn.VerifierFromClient(clientsv1.NewClientRegistryServiceClient(conn)).
	var verifier authn.APIKeyVerifier = registry{}
	keys := authn.NewAPIKeyAuthenticator(verifier)
	// With a NATS connection: stop, err := keys.FollowClientChanges(ctx, nc)

	v := authn.NewValidator(rules,
		authn.WithAuthenticator(keys),
		authn.WithRateLimiter(ratelimit.New(ratelimit.DefaultTiers())),
		authn.WithRecorder(audit.New(logger, prometheus.NewRegistry(), nil, "orders")),
		authn.WithLogger(logger),
		authn.WithService("orders"),
	)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(v.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(v.StreamServerInterceptor()),
	)
	defer srv.Stop()

	// The REST facade: errors rendered with RFC 6750 challenges, X-API-Key
	// forwarded, double credentials refused before translation.
	mux := runtime.NewServeMux(
		runtime.WithErrorHandler(authn.GatewayErrorHandler("gatehouse")),
		runtime.WithIncomingHeaderMatcher(authn.GatewayIncomingHeaderMatcher),
	)
	_ = v.GatewayPreflight(mux)
}

func ExampleValidator_Authorize() {
	k, _ := apikey.New()
	rules, _ := authn.NewRules(map[string]*authv1.AuthRule{
		"/shop.v1.Orders/GetOrder":    {Scopes: []string{"orders:read"}},
		"/shop.v1.Orders/CancelOrder": {Scopes: []string{"orders:write"}},
	})
	quiet := slog.New(slog.DiscardHandler)
	v := authn.NewValidator(rules,
		authn.WithAuthenticator(authn.NewAPIKeyAuthenticator(registry{key: k.String()})),
		authn.WithLogger(quiet),
	)
	md := metadata.Pairs("authorization", "ApiKey "+k.String())

	ctx, err := v.Authorize(context.Background(), "/shop.v1.Orders/GetOrder", md, "192.0.2.1")
	if err != nil {
		panic(err)
	}
	p, _ := authn.FromContext(ctx)
	fmt.Println(p.ClientID, p.Scopes, p.Trust)

	_, err = v.Authorize(context.Background(), "/shop.v1.Orders/CancelOrder", md, "192.0.2.1")
	fmt.Println(status.Code(err), status.Convert(err).Message())

	_, err = v.Authorize(context.Background(), "/shop.v1.Orders/DeleteAll", md, "192.0.2.1")
	fmt.Println(status.Code(err))
	// Output:
	// partner-42 [orders:read] api_key
	// PermissionDenied missing scope: orders:write
	// PermissionDenied
}

func ExampleValidator_HTTPMiddleware() {
	rules, _ := authn.NewRules(nil)
	v := authn.NewValidator(rules, authn.WithAuthenticator(authn.NewAPIKeyAuthenticator(registry{})))
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authn.FromContext(r.Context())
		fmt.Fprintf(w, "orders of %s\n", p.ClientID)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /v1/orders", v.HTTPMiddleware(&authv1.AuthRule{Scopes: []string{"orders:read"}}, orders))
}

func ExampleRules_Scopes() {
	rules, _ := authn.NewRules(map[string]*authv1.AuthRule{
		"/shop.v1.Orders/GetOrder":    {Scopes: []string{"orders:read"}},
		"/shop.v1.Orders/CancelOrder": {Scopes: []string{"orders:write", "orders:read"}},
		"/shop.v1.Orders/Catalogue":   {Public: true},
	})
	fmt.Println(rules.Scopes())
	rule, _ := rules.Lookup("/grpc.health.v1.Health/Check")
	fmt.Println(rule.GetPublic())
	// Output:
	// [orders:read orders:write]
	// true
}
