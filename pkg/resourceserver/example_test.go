package resourceserver_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"net/http"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/resourceserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// A gRPC and HTTP service protected in one call. The service's identity
// is a certificate from `gatehouse service-cert --name orders --role
// validator`; its rules come from its protos (the health service here
// stands for the team's own, whose protos would carry the
// gatehouse.auth.v1.rule option instead of the extra map).
func Example() {
	ctx := context.Background()
	cert, err := tls.LoadX509KeyPair("orders.crt", "orders.key")
	if err != nil {
		log.Fatal(err)
	}
	platformCA := x509.NewCertPool() // the platform CA, from ca.crt

	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	rules, err := authn.RulesFromServer(srv, map[string]*authv1.AuthRule{
		"/grpc.health.v1.Health/Check": authn.Scopes("orders:read"),
	})
	if err != nil {
		log.Fatal(err) // a registered method without a rule
	}
	rs, err := resourceserver.New(ctx, resourceserver.Config{
		Issuer:      "https://gatehouse.example",
		Audience:    "https://orders.example",
		Service:     "orders",
		Rules:       rules,
		Gatehouse:   "gatehouse.example:8443",
		Credentials: resourceserver.Credentials{Certificate: &cert},
		RootCAs:     platformCA,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer rs.Close()

	protected := grpc.NewServer(grpc.ChainUnaryInterceptor(rs.UnaryInterceptor()), grpc.ChainStreamInterceptor(rs.StreamInterceptor()))
	healthpb.RegisterHealthServer(protected, health.NewServer())
	mux := http.NewServeMux()
	mux.Handle("GET /orders", rs.RequireScopes("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authn.FromContext(r.Context())
		fmt.Fprintf(w, "orders of %s\n", p.ClientID)
	})))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if rs.Ready() != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	// Serve protected and mux.
}

// A service that authenticates to Gatehouse with a client secret from
// `gatehouse clients create --name orders --type service` instead of a
// certificate, and that can reach Gatehouse's NATS: nothing else changes.
func Example_clientSecret() {
	var rules *authn.Rules // authn.RulesFromServer
	rs, err := resourceserver.New(context.Background(), resourceserver.Config{
		Issuer:    "https://gatehouse.example",
		Audience:  "https://orders.example",
		Service:   "orders",
		Rules:     rules,
		Gatehouse: "gatehouse.example:9090",
		Credentials: resourceserver.Credentials{
			ClientID:     "c_orders",
			ClientSecret: "read from a secret store, never a flag",
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer rs.Close()
}
