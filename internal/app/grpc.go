package app

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	tokenv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
	usersv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/inventory"
	"github.com/gatehouse-dev/gatehouse/services/keys"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// Limits of the gRPC server (SECURITY-CHECKLIST L 79).
const (
	maxRecvMsgSize       = 1 << 20
	maxConcurrentStreams = 256
)

// newGRPCServer returns the server, the registrar that serves its services
// to the in-process gateway through the same unary interceptors, and its
// metrics, whose series of every method InitializeMetrics creates once the
// services are registered.
//
// The metrics are go-grpc-middleware's (grpc_server_started_total,
// grpc_server_handled_total, grpc_server_handling_seconds, ...), the names
// the usual gRPC dashboards and alerts query.
func newGRPCServer(reg prometheus.Registerer, v *authn.Validator, admin *adminAudit, guard *adminGuard) (*grpc.Server, *localServer, *grpcprom.ServerMetrics) {
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets(prometheus.ExponentialBuckets(0.0001, 4, 9)),
	))
	reg.MustRegister(metrics)
	// MaxConcurrentStreams bounds one connection; this bounds the server.
	inFlight := newSemaphore(maxInFlight)
	// One chain for the network listeners and the in-process gateway.
	unary := chainUnary(
		requestIDUnary,
		// Before the limit: a call refused as busy counts as Unavailable.
		metrics.UnaryServerInterceptor(),
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if !inFlight.acquire() {
				return nil, errBusy
			}
			defer inFlight.release()
			return h(ctx, req)
		},
		recoverUnary,
		admin.unary(guard.unary(v.UnaryServerInterceptor())),
	)
	srv := grpc.NewServer(append(tracing.GRPCServerOptions(),
		grpc.MaxRecvMsgSize(maxRecvMsgSize),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute, Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.UnaryInterceptor(unary),
		grpc.ChainStreamInterceptor(
			requestIDStream,
			metrics.StreamServerInterceptor(),
			func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				if info.FullMethod == revocationv1.RevocationService_Watch_FullMethodName {
					// Open for as long as the follower runs, mostly
					// idle: the revocation service bounds these streams
					// itself, and they must not hold the slots of
					// requests.
					return h(srv, ss)
				}
				if !inFlight.acquire() {
					return errBusy
				}
				defer inFlight.release()
				return h(srv, ss)
			},
			recoverStream,
			guard.stream(v.StreamServerInterceptor()),
		),
	)...)
	return srv, newLocalServer(srv, unary), metrics
}

// chainUnary makes one interceptor of ics, the first outermost, as
// grpc.ChainUnaryInterceptor does, so that the chain can serve the
// in-process gateway too.
func chainUnary(ics ...grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	chained := ics[len(ics)-1]
	for i := len(ics) - 2; i >= 0; i-- {
		outer, inner := ics[i], chained
		chained = func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return outer(ctx, req, info, func(ctx context.Context, req any) (any, error) {
				return inner(ctx, req, info, h)
			})
		}
	}
	return chained
}

// incomingRequestID is the call's id: the caller's x-request-id (or
// request-id) metadata when well formed, a fresh one otherwise.
func incomingRequestID(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, k := range []string{requestid.Metadata, requestid.AltMetadata} {
		if v := md.Get(k); len(v) > 0 {
			return requestid.OrNew(v[0])
		}
	}
	return requestid.New()
}

// requestIDUnary puts the call's id in its context, for every log line
// and audit record of the call, and returns it in the header metadata.
func requestIDUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	id := incomingRequestID(ctx)
	_ = grpc.SetHeader(ctx, metadata.Pairs(requestid.Metadata, id)) // fails only outside a call
	return h(requestid.NewContext(ctx, id), req)
}

func requestIDStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	id := incomingRequestID(ss.Context())
	_ = ss.SetHeader(metadata.Pairs(requestid.Metadata, id))
	return h(srv, ctxStream{ss, requestid.NewContext(ss.Context(), id)})
}

// ctxStream is a server stream with a context of its own.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }

// errBusy refuses a call while maxInFlight others run: Unavailable is
// what clients retry.
var errBusy = status.Error(codes.Unavailable, "server busy")

// semaphore admits at most n holders and never waits.
type semaphore chan struct{}

func newSemaphore(n int) semaphore { return make(semaphore, n) }

func (s semaphore) acquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s semaphore) release() { <-s }

// recoverUnary turns a panic in a handler into Internal, so one bad request
// cannot take the process down; the stack goes to the log only.
func recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			slog.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error")
		}
	}()
	return h(ctx, req)
}

func recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			slog.ErrorContext(ss.Context(), "panic in handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error")
		}
	}()
	return h(srv, ss)
}

// service is one gRPC service the process serves, with its REST routes.
type service struct {
	name    string
	gateway func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error
}

// registerServices registers what this process serves on the gRPC server
// and returns them for health and the gateway.
func (a *App) registerServices(registry *clients.Registry) []service {
	clientsv1.RegisterClientRegistryServiceServer(a.grpcReg, registry)
	served := []service{registryREST}
	if a.revs.svc != nil {
		served = append(served, a.registerRevocation())
	}
	if a.keys != nil {
		keysv1.RegisterKeyManagementServiceServer(a.grpcReg, keys.NewServer(a.keys, keys.WithClients(registry)))
		served = append(served, keysREST)
	}
	if a.users != nil {
		usersv1.RegisterUserServiceServer(a.grpcReg, a.users)
		served = append(served, usersREST)
	}
	if a.token != nil {
		tokenv1.RegisterTokenServiceServer(a.grpcReg, a.token)
		served = append(served, tokenREST)
	}
	if a.cfg.ExampleInventory {
		served = append(served, a.registerInventory())
	}
	return served
}

// registerRevocation serves the revocation list.
func (a *App) registerRevocation() service {
	revocationv1.RegisterRevocationServiceServer(a.grpcReg, a.revs.svc)
	return revocationREST
}

// registerInventory serves the example resource API.
func (a *App) registerInventory() service {
	inventoryv1.RegisterInventoryServiceServer(a.grpcReg, inventory.New())
	return inventoryREST
}

func registerReflection(s *grpc.Server) { reflection.Register(s) }
