package app

import (
	"context"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// localServer serves the gRPC server's unary methods to the in-process
// REST gateway without the HTTP/2 framing, marshalling and goroutine
// hand-offs of a connection, which cost the facade more than the call
// itself. What the server does for a call from a connection, a call here
// gets too: the same interceptor chain (authentication, the admin plane's
// guard, the limits, metrics, request ids, audit), a peer, incoming
// metadata, the message size limit, header and trailer metadata, and
// status errors only.
type localServer struct {
	srv   *grpc.Server
	unary grpc.UnaryServerInterceptor
	// methods is written while the services are registered, before any
	// call, and only read after.
	methods map[string]localMethod
}

type localMethod struct {
	impl    any
	handler grpc.MethodHandler
}

func newLocalServer(srv *grpc.Server, unary grpc.UnaryServerInterceptor) *localServer {
	return &localServer{srv: srv, unary: unary, methods: map[string]localMethod{}}
}

// RegisterService registers the service on the gRPC server and keeps its
// unary methods for the gateway. A service registered on the server
// directly is not served in process: its REST calls fail as Unimplemented.
func (s *localServer) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.srv.RegisterService(desc, impl)
	for _, m := range desc.Methods {
		s.methods["/"+desc.ServiceName+"/"+m.MethodName] = localMethod{impl: impl, handler: m.Handler}
	}
}

// gatewayAddr is the in-process gateway's address, the peer of its calls.
type gatewayAddr struct{}

func (gatewayAddr) Network() string { return "gateway" }
func (gatewayAddr) String() string  { return "gateway" }

// localConn is the gateway's grpc.ClientConnInterface onto a localServer,
// its calls made from local (an adminPlaneAddr for the admin gateway).
type localConn struct {
	srv   *localServer
	local net.Addr
}

// Invoke runs method as the gRPC server would a call from a connection.
func (c localConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	m, ok := c.srv.methods[method]
	if !ok {
		return status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	in, ok := args.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "gateway: %s: request %T is not a proto message", method, args)
	}
	out, ok := reply.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "gateway: %s: reply %T is not a proto message", method, reply)
	}
	if size := proto.Size(in); size > maxRecvMsgSize {
		return status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", size, maxRecvMsgSize)
	}
	// Ended with the call, as the server ends a stream's context; and a
	// cancellable context for what the handler derives to find.
	base, cancel := context.WithCancel(callContext{ctx})
	defer cancel()
	st := &localStream{method: method}
	sctx := grpc.NewContextWithServerTransportStream(
		metadata.NewIncomingContext(
			peer.NewContext(base, &peer.Peer{Addr: gatewayAddr{}, LocalAddr: c.local}),
			incomingMetadata(ctx)),
		st)
	// The handler gets a message of its own, as it would from the wire.
	dec := func(v any) error {
		msg, ok := v.(proto.Message)
		if !ok {
			return status.Errorf(codes.Internal, "gateway: %s: request %T is not a proto message", method, v)
		}
		proto.Merge(msg, in)
		return nil
	}
	resp, err := m.handler(m.impl, sctx, dec, c.srv.unary)
	st.deliver(opts)
	if err != nil {
		return wireStatus(err)
	}
	msg, ok := resp.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "gateway: %s: response %T is not a proto message", method, resp)
	}
	if size := proto.Size(msg); size > maxRecvMsgSize {
		return status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", size, maxRecvMsgSize)
	}
	proto.Merge(out, msg)
	return nil
}

// NewStream refuses: no REST route of the facade streams, and the
// server's stream interceptors are not run here.
func (localConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "streams are not served to the in-process gateway")
}

// wireStatus is what a client of the server receives for err: its status,
// or Unknown (Canceled, DeadlineExceeded for context errors) with its text.
func wireStatus(err error) error {
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	return status.FromContextError(err).Err()
}

// callContext takes the gateway's deadline and cancellation to the
// handler, as a connection does, but none of its values: the handler sees
// what crosses a connection (metadata, peer) only, never the HTTP
// request's context, whose outgoing metadata (the caller's credential)
// would otherwise go out on the handler's own calls to its peers.
type callContext struct{ context.Context }

func (callContext) Value(any) any { return nil }

// AfterFunc lets contexts derived from this one follow its cancellation
// without a goroutine each (context.WithCancel uses it when present).
func (c callContext) AfterFunc(f func()) func() bool { return context.AfterFunc(c.Context, f) }

// incomingMetadata is the metadata the server would receive from the
// gateway's grpc client for ctx's outgoing metadata: the reserved headers
// the client does not send are left out, and the ones it adds are added.
func incomingMetadata(ctx context.Context) metadata.MD {
	md, _ := metadata.FromOutgoingContext(ctx) // a copy, keys lower-cased
	if md == nil {
		md = metadata.MD{}
	}
	for k := range md {
		if isReservedHeader(k) {
			delete(md, k)
		}
	}
	md[":authority"] = []string{"gateway"}
	md["content-type"] = []string{"application/grpc"}
	md["user-agent"] = []string{"grpc-go/" + grpc.Version}
	return md
}

// isReservedHeader reports whether grpc-go's transport keeps k out of the
// metadata it sends.
func isReservedHeader(k string) bool {
	if k != "" && k[0] == ':' {
		return true
	}
	switch k {
	case "content-type", "user-agent", "grpc-message-type", "grpc-encoding", "grpc-message",
		"grpc-status", "grpc-timeout", "grpc-status-details-bin", "te":
		return true
	}
	return false
}

// localStream is the grpc.ServerTransportStream of an in-process call:
// where grpc.SetHeader and grpc.SetTrailer put the call's metadata.
type localStream struct {
	method string

	mu         sync.Mutex
	header     metadata.MD
	trailer    metadata.MD
	headerSent bool
}

func (s *localStream) Method() string { return s.method }

func (s *localStream) SetHeader(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.headerSent {
		return fmt.Errorf("gateway: %s: the header metadata was already sent", s.method)
	}
	s.header = metadata.Join(s.header, md)
	return nil
}

func (s *localStream) SendHeader(md metadata.MD) error {
	if err := s.SetHeader(md); err != nil {
		return err
	}
	s.mu.Lock()
	s.headerSent = true
	s.mu.Unlock()
	return nil
}

func (s *localStream) SetTrailer(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}

// deliver hands the header and trailer metadata to the call options that
// ask for them, with the content type the server's header carries.
func (s *localStream) deliver(opts []grpc.CallOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			h := metadata.Join(s.header)
			h["content-type"] = []string{"application/grpc"}
			*o.HeaderAddr = h
		case grpc.TrailerCallOption:
			*o.TrailerAddr = metadata.Join(s.trailer)
		}
	}
}
