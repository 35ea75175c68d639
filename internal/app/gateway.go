package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/internal/restgw"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// realm is the RFC 6750 realm of every challenge Gatehouse sends.
const realm = "gatehouse"

// gateway is the REST facade. It reaches the gRPC server through an
// in-memory connection, never by calling the service implementations
// directly, so every REST call passes the same interceptors as gRPC.
type gateway struct {
	handler http.Handler
	conns   []*grpc.ClientConn
	next    atomic.Uint64
}

// gatewayConns is how many in-memory connections the gateway spreads its
// calls over: one HTTP/2 connection serialises every stream on its locks.
const gatewayConns = 4

// isGatewayPeer tells the validator which peer is the in-process gateway,
// whose x-forwarded-for metadata may be trusted for the caller's address.
func isGatewayPeer(addr net.Addr) bool { return addr != nil && addr.Network() == "bufconn" }

func newGateway(ctx context.Context, srv *grpc.Server, v *authn.Validator, served []service) (*gateway, error) {
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	g := &gateway{}
	for range gatewayConns {
		conn, err := grpc.NewClient("passthrough:///gateway", append([]grpc.DialOption{
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
			// With tracing on, a client span per call, child of the HTTP
			// request's span.
		}, tracing.GRPCDialOptions()...)...)
		if err != nil {
			g.close()
			return nil, fmt.Errorf("gateway: connect to grpc: %w", err)
		}
		g.conns = append(g.conns, conn)
	}
	mux := restgw.NewServeMux(v.Realm(),
		// The client certificate of an mTLS request, for certificate-bound
		// tokens; the validator trusts it only from the gateway.
		runtime.WithMetadata(authn.GatewayClientCertAnnotator),
		// The REST route (e.g. /v1/clients/{client_id=*}) names the HTTP
		// request's span, rather than the listener's /v1/ pattern.
		runtime.WithMiddlewares(gatewayRoute),
	)
	for _, svc := range served {
		if err := svc.gateway(ctx, mux, g); err != nil {
			g.close()
			return nil, fmt.Errorf("gateway: register %s: %w", svc.name, err)
		}
	}
	g.handler = v.GatewayPreflight(mux)
	return g, nil
}

func (g *gateway) pick() *grpc.ClientConn {
	return g.conns[g.next.Add(1)%uint64(len(g.conns))]
}

// Invoke implements grpc.ClientConnInterface over the connections.
func (g *gateway) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return g.pick().Invoke(ctx, method, args, reply, opts...)
}

// NewStream implements grpc.ClientConnInterface over the connections.
func (g *gateway) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return g.pick().NewStream(ctx, desc, method, opts...)
}

func (g *gateway) close() {
	for _, c := range g.conns {
		_ = c.Close()
	}
}
