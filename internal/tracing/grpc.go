package tracing

import (
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"google.golang.org/grpc"
)

// GRPCServerOptions instruments a gRPC server when tracing is on: a server
// span per RPC, continuing the caller's trace (the gateway, a peer, a
// partner sending traceparent). Health checks (the peers' Watch streams)
// are left out; otelgrpc records neither metadata nor messages. Off, it
// is nothing.
func GRPCServerOptions() []grpc.ServerOption {
	if !Enabled() {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithFilter(filters.Not(filters.HealthCheck()))))}
}

// GRPCDialOptions instruments a gRPC client when tracing is on: a client
// span per call, whose traceparent goes in the call's metadata to the
// server span. Off, it is nothing.
func GRPCDialOptions() []grpc.DialOption {
	if !Enabled() {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithFilter(filters.Not(filters.HealthCheck()))))}
}
