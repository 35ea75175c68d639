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
	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
)

// realm is the RFC 6750 realm of every challenge Gatehouse sends.
const realm = "gatehouse"

// gateway is the REST facade. It reaches the gRPC server's services
// through the server's own interceptor chain, never by calling the service
// implementations directly, so every REST call passes the same
// interceptors as gRPC: in process (localConn) or, when the server has
// stats handlers (tracing), which only a connection runs, over in-memory
// connections.
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
func isGatewayPeer(addr net.Addr) bool {
	if _, ok := addr.(gatewayAddr); ok {
		return true
	}
	return addr != nil && addr.Network() == "bufconn"
}

// newGateway serves the services of local, on the admin plane when admin
// is set.
func newGateway(ctx context.Context, local *localServer, v *authn.Validator, served []service, admin bool) (*gateway, error) {
	g := &gateway{}
	var cc grpc.ClientConnInterface
	if tracing.Enabled() {
		// The client and server spans of the hop come from the
		// connections' stats handlers.
		if err := g.dial(local.srv, admin); err != nil {
			return nil, err
		}
		cc = g
	} else {
		var addr net.Addr = gatewayAddr{}
		if admin {
			addr = adminPlaneAddr{addr}
		}
		cc = localConn{srv: local, local: addr}
	}
	mux := gatewayMux(v, authn.GatewayClientCertAnnotator)
	for _, svc := range served {
		if err := svc.gateway(ctx, mux, cc); err != nil {
			g.close()
			return nil, fmt.Errorf("gateway: register %s: %w", svc.name, err)
		}
	}
	g.handler = v.GatewayPreflight(mux)
	return g, nil
}

// dial serves srv on in-memory connections, whose listener marks them as
// the admin plane's when admin is set.
func (g *gateway) dial(srv *grpc.Server, admin bool) error {
	lis := bufconn.Listen(1 << 20)
	var l net.Listener = lis
	if admin {
		l = adminPlaneListener{lis}
	}
	go func() { _ = srv.Serve(l) }()
	for range gatewayConns {
		conn, err := grpc.NewClient("passthrough:///gateway", append([]grpc.DialOption{
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
			// A client span per call, child of the HTTP request's span.
		}, tracing.GRPCDialOptions()...)...)
		if err != nil {
			g.close()
			return fmt.Errorf("gateway: connect to grpc: %w", err)
		}
		g.conns = append(g.conns, conn)
	}
	return nil
}

// gatewayMux is the REST facade's mux: the one of internal/restgw, with
// the client certificate of an mTLS request stated in the metadata (for
// certificate-bound tokens and the certificate alone; the validator trusts
// it only from the gateway), and the REST route naming the request's span.
func gatewayMux(v *authn.Validator, annotate func(context.Context, *http.Request) metadata.MD) *runtime.ServeMux {
	return restgw.NewServeMux(v.Realm(),
		runtime.WithMetadata(annotate),
		// DPoP proofs, with the HTTP method and URI they name (RFC 9449
		// §4.2): the gRPC validator trusts those only from the gateway.
		runtime.WithMetadata(v.GatewayDPoPAnnotator),
		// The HTTP request's id, so that the gRPC side (in this process
		// or a peer's) logs the same one.
		runtime.WithMetadata(forwardRequestID),
		// The REST route (e.g. /v1/clients/{client_id=*}) names the HTTP
		// request's span, rather than the listener's /v1/ pattern.
		runtime.WithMiddlewares(gatewayRoute),
	)
}

// newRemoteGateway is `serve gateway`'s facade: every request validated
// here first (GatewayPreflight), then forwarded over gRPC to the replicas
// of the service that serves it, marked as forwarded (so the service takes
// the caller's certificate and address from this gateway, and its
// credential from the request, never this gateway's identity).
func newRemoteGateway(ctx context.Context, v *authn.Validator, conns map[string]*grpc.ClientConn) (*gateway, error) {
	mux := gatewayMux(v, func(ctx context.Context, r *http.Request) metadata.MD {
		return metadata.Join(authn.ForwardClientCert(r), metadata.Pairs(authn.MetadataForwarded, "1"))
	})
	for peer, routes := range gatewayRoutes {
		cc := conns[peer]
		if cc == nil {
			continue // an optional peer not given (config.OptionalPeers)
		}
		for _, svc := range routes {
			if err := svc.gateway(ctx, mux, cc); err != nil {
				return nil, fmt.Errorf("gateway: register %s: %w", svc.name, err)
			}
		}
	}
	return &gateway{handler: v.GatewayPreflight(mux)}, nil
}

func forwardRequestID(ctx context.Context, _ *http.Request) metadata.MD {
	if id := requestid.FromContext(ctx); id != "" {
		return metadata.Pairs(requestid.Metadata, id)
	}
	return nil
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
