package peers

import (
	"context"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"google.golang.org/grpc/metadata"
)

// TestWithRequestID: a peer call carries the id of its request, once.
func TestWithRequestID(t *testing.T) {
	outgoing := func(ctx context.Context) []string {
		md, _ := metadata.FromOutgoingContext(ctx)
		return md.Get(requestid.Metadata)
	}
	if got := outgoing(withRequestID(context.Background())); len(got) != 0 {
		t.Fatalf("outside a request: %v", got)
	}
	ctx := requestid.NewContext(context.Background(), "req-1")
	if got := outgoing(withRequestID(ctx)); !slices.Equal(got, []string{"req-1"}) {
		t.Fatalf("in a request: %v", got)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, requestid.Metadata, "from-gateway")
	if got := outgoing(withRequestID(ctx)); !slices.Equal(got, []string{"from-gateway"}) {
		t.Fatalf("already in the metadata: %v", got)
	}
}
