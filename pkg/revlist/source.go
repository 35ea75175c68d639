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

// Watcher is a Source that can also stream the list: the revocation
// service's Watch. A follower without NATS whose Source is a Watcher (or
// that is given one with WithWatch) streams instead of waiting for its
// periodic re-sync.
type Watcher interface {
	Watch(ctx context.Context, req *revocationv1.WatchRequest) (WatchStream, error)
}

// WatchStream is an open Watch stream; the generated client's stream is
// one. The follower cancels the context it passed to Watch to end it.
type WatchStream interface {
	Recv() (*revocationv1.WatchResponse, error)
}

// ClientSource adapts a generated gRPC client to Source; opts are passed
// to every call (e.g. per-RPC credentials). It is a Watcher too.
func ClientSource(c revocationv1.RevocationServiceClient, opts ...grpc.CallOption) Source {
	return clientSource{c: c, opts: opts}
}

// ClientWatcher adapts a generated gRPC client to Watcher, for WithWatch.
func ClientWatcher(c revocationv1.RevocationServiceClient, opts ...grpc.CallOption) Watcher {
	return clientSource{c: c, opts: opts}
}

type clientSource struct {
	c    revocationv1.RevocationServiceClient
	opts []grpc.CallOption
}

func (s clientSource) List(ctx context.Context, req *revocationv1.ListRequest) (*revocationv1.ListResponse, error) {
	return s.c.List(ctx, req, s.opts...)
}

func (s clientSource) Watch(ctx context.Context, req *revocationv1.WatchRequest) (WatchStream, error) {
	return s.c.Watch(ctx, req, s.opts...)
}
