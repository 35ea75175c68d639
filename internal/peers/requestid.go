package peers

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// withRequestID puts the id of the request a peer call is made for in the
// call's metadata, so that the peer logs the same id; one already there
// (the REST gateway's) is kept.
func withRequestID(ctx context.Context) context.Context {
	id := requestid.FromContext(ctx)
	if id == "" {
		return ctx
	}
	if md, ok := metadata.FromOutgoingContext(ctx); ok && len(md.Get(requestid.Metadata)) > 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, requestid.Metadata, id)
}

func requestIDUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(withRequestID(ctx), method, req, reply, cc, opts...)
}

func requestIDStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(withRequestID(ctx), desc, cc, method, opts...)
}
