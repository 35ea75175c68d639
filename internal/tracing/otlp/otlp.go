// Package otlp is the exporter of --otlp-endpoint, for tracing.Setup
// (tracing.WithExporter(otlp.Exporter)). It is a package of its own because
// it links the OTLP collector's protobuf service (see tracing.WithExporter).
package otlp

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Exporter is OTLP over gRPC (otlptracegrpc) to --otlp-endpoint, rather
// than OTLP/HTTP (otlptracehttp): gRPC is already the transport of every
// Gatehouse service, so it brings no second HTTP client stack, and
// collectors take it on 4317 by default. It speaks TLS with the system
// roots unless --otlp-insecure (loopback only) says plaintext. The standard
// OTEL_EXPORTER_OTLP_* variables (certificate, headers, compression,
// timeout) still apply, but not one that would turn TLS off: the scheme
// of the endpoint URL given here decides. It does not wait for the
// collector; spans that cannot be sent are dropped and the failure logged.
func Exporter(ctx context.Context, cfg *config.Config) (sdktrace.SpanExporter, error) {
	scheme := "https://"
	if cfg.OTLPInsecure {
		scheme = "http://"
	}
	return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(scheme+cfg.OTLPEndpoint))
}
