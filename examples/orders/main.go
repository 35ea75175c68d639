// Command orders is an example resource service of another team, built as
// its own module that requires Gatehouse's gen and pkg modules without
// replace directives. Its gRPC methods carry their rules in its own proto
// (proto/orders/v1/orders.proto), and GET /orders is guarded with the same
// validator. Callers present JWT access tokens from a Gatehouse issuer;
// API keys would need a credential of the service's own towards
// Gatehouse's client registry, which this example does not set up.
package main

import (
	"context"
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

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
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

func run() error {
	httpAddr := flag.String("http-addr", "127.0.0.1:8081", "HTTP listen address")
	grpcAddr := flag.String("grpc-addr", "127.0.0.1:9091", "gRPC listen address")
	issuer := flag.String("issuer", "http://127.0.0.1:8080", "the Gatehouse issuer whose access tokens are accepted")
	audience := flag.String("audience", "urn:gatehouse:api", "the audience the access tokens must carry")
	jwksURL := flag.String("jwks-url", "", "where the issuer publishes its keys (default: the issuer's /.well-known/jwks.json)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rules, err := authn.RulesFromServices(ordersv1.File_orders_v1_orders_proto.Services().ByName("OrdersService"))
	if err != nil {
		return err
	}
	if *jwksURL == "" {
		*jwksURL = *issuer + "/.well-known/jwks.json"
	}
	keys := authn.NewHTTPJWKSSource(*jwksURL)
	if err := keys.Err(); err != nil {
		return err
	}
	tokens := authn.NewJWTAuthenticator(keys,
		authn.WithIssuer(*issuer), authn.WithAudience(*audience), authn.WithJWTLogger(log))
	if err := tokens.ConfigError(); err != nil {
		return err
	}
	v := authn.NewValidator(rules,
		authn.WithAuthenticator(tokens),
		authn.WithLogger(log),
		authn.WithService("orders"),
	)

	store := &orders{}
	gs := grpc.NewServer(
		grpc.ChainUnaryInterceptor(v.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(v.StreamServerInterceptor()),
	)
	ordersv1.RegisterOrdersServiceServer(gs, store)

	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.HTTPMiddleware(&authv1.AuthRule{Scopes: []string{"orders:read"}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			for _, o := range store.list() {
				fmt.Fprintf(w, "%s %s %d\n", o.GetId(), o.GetItem(), o.GetQuantity())
			}
		})))
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
