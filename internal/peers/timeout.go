package peers

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// timeoutUnary gives a call without a deadline one of d, and reports a
// deadline the peer did not meet as Unavailable: to the caller a peer too
// slow to answer is a peer that is away.
func timeoutUnary(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		callerDeadline := true
		if _, ok := ctx.Deadline(); !ok {
			callerDeadline = false
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		err := invoker(ctx, method, req, reply, cc, opts...)
		if !callerDeadline && status.Code(err) == codes.DeadlineExceeded {
			return status.Errorf(codes.Unavailable, "%s: no answer within %s", method, d)
		}
		return err
	}
}
