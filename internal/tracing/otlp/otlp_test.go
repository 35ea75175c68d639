package otlp_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/internal/tracing/otlp"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// TestSetupEndpoint: with --otlp-endpoint an SDK provider exporting over
// OTLP is installed without waiting for the collector, and shuts down.
func TestSetupEndpoint(t *testing.T) {
	for _, args := range [][]string{
		{"--otlp-endpoint", "127.0.0.1:1", "--otlp-insecure"},
		{"--otlp-endpoint", "collector.invalid:4317"},
	} {
		cfg, err := config.Load(args, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		before := otel.GetTracerProvider()
		shutdown, err := tracing.Setup(context.Background(), cfg, tracing.WithExporter(otlp.Exporter))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); !ok {
			t.Fatalf("%v: provider %T, want the SDK's", args, otel.GetTracerProvider())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = shutdown(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%v: shutdown: %v", args, err)
		}
		if otel.GetTracerProvider() != before {
			t.Fatalf("%v: shutdown did not restore the provider", args)
		}
	}
}

// collector is an OTLP/gRPC collector that keeps what it is sent.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu   sync.Mutex
	reqs []*coltracepb.ExportTraceServiceRequest
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = append(c.reqs, req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// TestExport: the spans reach a collector on --otlp-endpoint (plaintext on
// loopback here), batched, flushed by shutdown, with service.name
// gatehouse-<service>.
func TestExport(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	cfg, err := config.Load([]string{"clients", "--otlp-endpoint", lis.Addr().String(), "--otlp-insecure",
		// What a split service must be given; only the service's name
		// matters here (service.name).
		"--nats-url", "nats://127.0.0.1:4222", "--issuer", "https://auth.example",
		"--peer-cert", "c.pem", "--peer-key", "k.pem", "--peer-ca", "ca.pem",
		"--peer-revocation", "127.0.0.1:1", "--peer-keys", "127.0.0.1:2"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	shutdown, err := tracing.Setup(context.Background(), cfg, tracing.WithExporter(otlp.Exporter))
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("test").Start(context.Background(), "exported")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	var names []string
	for _, req := range col.reqs {
		for _, rs := range req.GetResourceSpans() {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.GetKey() == "service.name" {
					service = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, service+"/"+s.GetName())
				}
			}
		}
	}
	if len(names) != 1 || names[0] != "gatehouse-clients/exported" {
		t.Fatalf("the collector got %v, want [gatehouse-clients/exported]", names)
	}
}
