package app

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// TestReflectionOffByDefault is checklist item 93: an unauthenticated
// caller cannot list the services unless the operator turned reflection on
// with --grpc-reflection.
func TestReflectionOffByDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want codes.Code
	}{
		{"default", nil, codes.Unimplemented},
		{"--grpc-reflection", []string{"--grpc-reflection"}, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data-dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--mtls-addr", ""}, tc.args...)
			a := startTraced(t, io.Discard, args...)
			conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// io.EOF from Send means the server already ended the stream
			// (an unknown service is refused at once): Recv has its status.
			if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if got := status.Code(err); got != tc.want {
				t.Fatalf("ListServices: %v, want %s", err, tc.want)
			}
			if tc.want == codes.OK && len(resp.GetListServicesResponse().GetService()) < 5 {
				t.Errorf("ListServices with reflection on: %v", resp)
			}
		})
	}
}
