// Package peers dials the other Gatehouse services of a split deployment.
//
// A peer is a service reached over gRPC at one or more addresses (its
// replicas). Calls are spread over the replicas with gRPC's round_robin
// policy, and a replica whose gRPC health check for the service is not
// SERVING is left out until it is again. Every call has a deadline (the
// caller's, or Timeout when it has none) and is retried with backoff
// while it fails with Unavailable, so a peer that is down answers
// Unavailable within the deadline, never a hang.
//
// Every call is a client span of the caller's trace (otelgrpc, with the
// global TracerProvider and propagator of the time Dial is called), and
// carries its traceparent to the peer, whose server span continues the
// trace; health checks are not traced.
//
// Services prove who they are to each other with a certificate from the
// platform CA (the certificate alone is the credential of the internal
// methods, see CREDENTIAL_KIND_MTLS) and check their peer's server
// certificate against the same CA.
package peers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/mtls"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // registers the client-side health checker the service config asks for
	"google.golang.org/grpc/resolver"
)

// DefaultTimeout bounds a call whose context has no deadline.
const DefaultTimeout = 5 * time.Second

// Config says how to reach one peer service.
type Config struct {
	// Service is the gRPC service whose health decides whether a replica
	// takes calls, e.g. "gatehouse.revocation.v1.RevocationService".
	Service string
	// Addrs are the replicas' host:port, or dns:///host:port for every
	// address host resolves to, looked up again every 30 s and when a
	// replica goes away (a Kubernetes headless Service).
	Addrs []string
	// TLS is the client side of the connection: the service's own
	// certificate and the CA that issued the peers'. Nil dials without
	// TLS, which Dial allows only to loopback addresses.
	TLS *tls.Config
	// Timeout is the deadline of a call made without one (default
	// DefaultTimeout).
	Timeout time.Duration

	// lookup replaces DNS and dnsEvery the refresh interval, for tests.
	lookup   func(ctx context.Context, host string) ([]string, error)
	dnsEvery time.Duration
}

// Dial returns a connection to the peer's replicas. It does not wait for
// them: a replica that is down only fails the calls made while no replica
// is up.
func Dial(cfg Config) (*grpc.ClientConn, error) {
	if cfg.Service == "" {
		return nil, errors.New("peers: no service name")
	}
	if len(cfg.Addrs) == 0 {
		return nil, fmt.Errorf("peers: no address for %s", cfg.Service)
	}
	// Without TLS, only loopback replicas: a name must resolve to
	// loopback addresses too.
	b := &builder{scheme: "gatehouse-peer", lookup: cfg.lookup, every: cfg.dnsEvery, loopbackOnly: cfg.TLS == nil}
	if b.lookup == nil {
		b.lookup = net.DefaultResolver.LookupHost
	}
	if b.every <= 0 {
		b.every = dnsRefresh
	}
	for _, a := range cfg.Addrs {
		host, port, dns, err := ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("peers: %s: %w", cfg.Service, err)
		}
		if cfg.TLS == nil && !loopback.Host(host) {
			return nil, fmt.Errorf("peers: %s: %s is not a loopback address: give the peer TLS settings", cfg.Service, a)
		}
		if dns {
			b.names = append(b.names, dnsName{host: host, port: port})
			continue
		}
		b.static = append(b.static, resolver.Address{Addr: net.JoinHostPort(host, port), ServerName: host})
	}
	sc, err := serviceConfig(cfg.Service, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	// A resolver of its own per connection: the addresses are static.
	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		creds = credentials.NewTLS(cfg.TLS)
	}
	conn, err := grpc.NewClient(b.Scheme()+":///"+cfg.Service, append([]grpc.DialOption{
		grpc.WithResolvers(b),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(sc),
		grpc.WithChainUnaryInterceptor(timeoutUnary(timeoutOf(cfg.Timeout)), requestIDUnary),
		grpc.WithChainStreamInterceptor(requestIDStream),
	}, tracing.GRPCDialOptions()...)...)
	if err != nil {
		return nil, fmt.Errorf("peers: dial %s: %w", cfg.Service, err)
	}
	return conn, nil
}

func timeoutOf(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return d
}

// serviceConfig is round_robin over the healthy replicas, and retries of
// Unavailable with exponential backoff. Unavailable is what a replica
// answers when it did not do the work (shutting down, busy, its store
// away), so a retry cannot do it twice.
func serviceConfig(service string, timeout time.Duration) (string, error) {
	type retryPolicy struct {
		MaxAttempts          int      `json:"maxAttempts"`
		InitialBackoff       string   `json:"initialBackoff"`
		MaxBackoff           string   `json:"maxBackoff"`
		BackoffMultiplier    float64  `json:"backoffMultiplier"`
		RetryableStatusCodes []string `json:"retryableStatusCodes"`
	}
	type methodConfig struct {
		Name        []map[string]string `json:"name"`
		Timeout     string              `json:"timeout"`
		RetryPolicy retryPolicy         `json:"retryPolicy"`
	}
	sc := struct {
		LoadBalancingConfig []map[string]struct{} `json:"loadBalancingConfig"`
		HealthCheckConfig   map[string]string     `json:"healthCheckConfig"`
		MethodConfig        []methodConfig        `json:"methodConfig"`
	}{
		LoadBalancingConfig: []map[string]struct{}{{"round_robin": {}}},
		HealthCheckConfig:   map[string]string{"serviceName": service},
		MethodConfig: []methodConfig{{
			Name:    []map[string]string{{}},
			Timeout: fmt.Sprintf("%.3fs", timeoutOf(timeout).Seconds()),
			RetryPolicy: retryPolicy{
				MaxAttempts: 4, InitialBackoff: "0.05s", MaxBackoff: "1s", BackoffMultiplier: 2,
				RetryableStatusCodes: []string{"UNAVAILABLE"},
			},
		}},
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return "", fmt.Errorf("peers: service config: %w", err)
	}
	return string(b), nil
}

// ClientTLS is the TLS configuration of a service calling its peers: its
// certificate (certFile, keyFile: PEM, issued by the platform CA) and the
// CA bundle (caFile) that issued the peers' server certificates.
func ClientTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("peers: service certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if err := mtls.AppendCertsFile(pool, caFile); err != nil {
		return nil, fmt.Errorf("peers: peer CA: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
