// Command orders is an example resource service of another team, built as
// its own module that requires Gatehouse's gen and pkg modules without
// replace directives. Its gRPC methods carry their rules in its own proto
// (proto/orders/v1/orders.proto); GET /orders is guarded by the same
// validator. pkg/resourceserver does the wiring: JWTs from the issuer,
// API keys verified by Gatehouse, the revocation list pushed to it, key
// rotations, rate limits by client tier and an audit of every refusal.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/resourceserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ordersv1 "example.com/orders/gen/orders/v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

var (
	httpAddr  = flag.String("http-addr", "127.0.0.1:8081", "HTTP listen address")
	grpcAddr  = flag.String("grpc-addr", "127.0.0.1:9091", "gRPC listen address")
	issuer    = flag.String("issuer", "http://127.0.0.1:8080", "the Gatehouse issuer whose access tokens are accepted")
	audience  = flag.String("audience", "https://orders.example", "the audience the access tokens must carry")
	gatehouse = flag.String("gatehouse", "127.0.0.1:9090", "Gatehouse's gRPC address: its mTLS listener with --cert, its gRPC listener with --client-id")
	clientID  = flag.String("client-id", "", "this service's client (gatehouse clients create --type service); the secret is read from $ORDERS_CLIENT_SECRET")
	certFile  = flag.String("cert", "", "this service's certificate (gatehouse service-cert --name orders --role validator)")
	keyFile   = flag.String("key", "", "the certificate's private key")
	caFile    = flag.String("ca", "", "the CA that signs Gatehouse's certificates (the platform CA)")
	insecure  = flag.Bool("insecure", false, "plaintext gRPC to a Gatehouse on a loopback address (a laptop)")
)

func run() error {
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	creds, roots, err := credentials()
	if err != nil {
		return err
	}
	store := &orders{}

	// The wiring: rules from the proto, one call, the interceptors, the
	// check that every method has a rule, and the HTTP routes.
	rules, err := authn.RulesFromDescriptors(ordersv1.File_orders_v1_orders_proto.Services().ByName("OrdersService"))
	if err != nil {
		return err
	}
	rs, err := resourceserver.New(ctx, resourceserver.Config{
		Issuer: *issuer, Audience: *audience, Service: "orders", Rules: rules,
		Gatehouse: *gatehouse, Credentials: creds, RootCAs: roots, Insecure: *insecure, Logger: log,
	})
	if err != nil {
		return err
	}
	defer rs.Close()
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(rs.UnaryInterceptor()), grpc.ChainStreamInterceptor(rs.StreamInterceptor()))
	ordersv1.RegisterOrdersServiceServer(gs, store)
	if err := rs.Check(gs); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", rs.RequireScopes("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, o := range store.list() {
			fmt.Fprintf(w, "%s %s %d\n", o.GetId(), o.GetItem(), o.GetQuantity())
		}
	})))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := rs.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	var lc net.ListenConfig
	gl, err := lc.Listen(ctx, "tcp", *grpcAddr)
	if err != nil {
		return err
	}
	hl, err := lc.Listen(ctx, "tcp", *httpAddr)
	if err != nil {
		gl.Close()
		return err
	}
	log.Info("serving", "grpc", gl.Addr().String(), "http", hl.Addr().String())

	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(gl) }()
	go func() { errc <- hs.Serve(hl) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gs.GracefulStop()
	if serr := hs.Shutdown(shutdown); err == nil && !errors.Is(serr, http.ErrServerClosed) {
		err = serr
	}
	return err
}

// credentials reads the service's identity at Gatehouse: a certificate
// (--cert, --key, --ca) or a service client (--client-id and the secret
// from the environment, never from the command line).
func credentials() (resourceserver.Credentials, *x509.CertPool, error) {
	var roots *x509.CertPool
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return resourceserver.Credentials{}, nil, err
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return resourceserver.Credentials{}, nil, fmt.Errorf("--ca %s: no certificate", *caFile)
		}
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		return resourceserver.Credentials{Certificate: &cert}, roots, err
	}
	return resourceserver.Credentials{ClientID: *clientID, ClientSecret: os.Getenv("ORDERS_CLIENT_SECRET")}, roots, nil
}

// orders keeps the orders in memory.
type orders struct {
	ordersv1.UnimplementedOrdersServiceServer
	mu   sync.Mutex
	all  []*ordersv1.Order
	next int
}

func (s *orders) list() []*ordersv1.Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*ordersv1.Order(nil), s.all...)
}

func (s *orders) ListOrders(context.Context, *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	return &ordersv1.ListOrdersResponse{Orders: s.list()}, nil
}

func (s *orders) CreateOrder(_ context.Context, req *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
	if req.GetItem() == "" || req.GetQuantity() < 1 {
		return nil, status.Error(codes.InvalidArgument, "item and a quantity of at least 1 are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	o := &ordersv1.Order{Id: "o-" + strconv.Itoa(s.next), Item: req.GetItem(), Quantity: req.GetQuantity()}
	s.all = append(s.all, o)
	return &ordersv1.CreateOrderResponse{Order: o}, nil
}
