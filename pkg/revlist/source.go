package revlist

import (
	"context"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"google.golang.org/grpc"
)

// Source is where a follower reads the list: the revocation service's
// List, the source of truth.
type Source interface {
	List(ctx context.Context, req *revocationv1.ListRequest) (*revocationv1.ListResponse, error)
}

// ClientSource adapts a generated gRPC client to Source; opts are passed
// to every call (e.g. per-RPC credentials).
func ClientSource(c revocationv1.RevocationServiceClient, opts ...grpc.CallOption) Source {
	return clientSource{c: c, opts: opts}
}

type clientSource struct {
	c    revocationv1.RevocationServiceClient
	opts []grpc.CallOption
}

func (s clientSource) List(ctx context.Context, req *revocationv1.ListRequest) (*revocationv1.ListResponse, error) {
	return s.c.List(ctx, req, s.opts...)
}
