package app

import (
	"context"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	clientsql "github.com/gatehouse-dev/gatehouse/services/clients/sqlstore"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// BenchmarkAPIKeyVerification measures one request's trip through the
// unary auth interceptor with an API key: rule lookup, credential parsing,
// verification (from the cache, or by the registry against the store),
// rate limit and scope check.
func BenchmarkAPIKeyVerification(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) clients.Store
	}{
		{"sqlite", func(b *testing.B) clients.Store {
			s, err := clientsql.New(context.Background(), dbtest.SQLiteDB(b))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"postgres", func(b *testing.B) clients.Store {
			s, err := clientsql.New(context.Background(), dbtest.PostgresDB(b))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, be := range backends {
		for _, cached := range []bool{true, false} {
			name := be.name + "/uncached"
			if cached {
				name = be.name + "/cached"
			}
			b.Run(name, func(b *testing.B) {
				interceptor, ctx := benchInterceptor(b, be.open(b), cached)
				info := &grpc.UnaryServerInfo{FullMethod: clientsv1.ClientRegistryService_ListScopes_FullMethodName}
				handler := func(context.Context, any) (any, error) { return nil, nil }
				req := &clientsv1.ListScopesRequest{}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := interceptor(ctx, req, info, handler); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func benchInterceptor(b *testing.B, store clients.Store, cached bool) (grpc.UnaryServerInterceptor, context.Context) {
	b.Helper()
	ctx := context.Background()
	registry := clients.New(store)
	rules, err := authn.RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		b.Fatal(err)
	}
	if err := registry.SeedScopes(ctx, rules.Scopes()); err != nil {
		b.Fatal(err)
	}
	c, err := registry.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
		Name: "bench", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{clients.AdminScope},
		RateLimitTier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_INTERNAL,
	}})
	if err != nil {
		b.Fatal(err)
	}
	key, err := registry.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: c.GetClient().GetClientId(), Scopes: []string{clients.AdminScope}})
	if err != nil {
		b.Fatal(err)
	}
	ttl := time.Duration(0) // no cache: every call asks the registry
	if cached {
		ttl = time.Minute
	}
	// The benchmark measures verification, not the limiter's refusals.
	limiter := ratelimit.New(map[string]ratelimit.Tier{"internal": {Rate: rate.Inf, Burst: 1}, "standard": {Rate: rate.Inf, Burst: 1}})
	v := authn.NewValidator(rules,
		authn.WithAuthenticator(authn.NewAPIKeyAuthenticator(registry, authn.WithCacheTTL(ttl))),
		authn.WithRateLimiter(limiter))
	md := metadata.Pairs("authorization", "ApiKey "+key.GetApiKey())
	return v.UnaryServerInterceptor(), metadata.NewIncomingContext(ctx, md)
}
