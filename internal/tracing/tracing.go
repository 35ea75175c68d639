// Package tracing sets up OpenTelemetry tracing for a Gatehouse process.
//
// Setup installs the process's TracerProvider and the W3C TraceContext
// propagator as the OpenTelemetry globals. The instrumentation (otelhttp on
// the HTTP listeners, otelgrpc on the gRPC server, the gateway's and the
// peers' connections, the NATS publisher, the pgx tracer) reads the globals
// when it is constructed, so Setup runs before app.Start, and a test that
// wants the spans installs its recorder (WithSpanProcessor) before starting
// an App.
//
// With --otlp-endpoint empty, Setup installs no SDK provider: the global
// stays OpenTelemetry's no-op one, spans are never recorded, and only the
// propagator works, so that a caller's trace id still reaches the logs.
//
// Spans never carry credentials: otelhttp and otelgrpc record neither
// headers nor metadata, the HTTP spans are named by route pattern and carry
// the path only (never the query), and the pgx spans carry no SQL text or
// arguments.
package tracing

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// InstrumentationName names the tracers of Gatehouse's own spans.
const InstrumentationName = "github.com/gatehouse-dev/gatehouse"

// Option adjusts Setup.
type Option func(*options)

type options struct {
	processors []sdktrace.SpanProcessor
	exporter   Exporter
}

// Exporter makes the exporter of --otlp-endpoint (internal/tracing/otlp).
type Exporter func(ctx context.Context, cfg *config.Config) (sdktrace.SpanExporter, error)

// WithExporter is how spans are exported when --otlp-endpoint is set:
// `gatehouse serve` passes otlp.Exporter. The exporter lives in a package
// of its own so that the packages that only instrument (internal/app,
// internal/events) do not link the OTLP collector's protobuf service, a
// gRPC service that is no Gatehouse contract and has no auth rule.
func WithExporter(e Exporter) Option {
	return func(o *options) { o.exporter = e }
}

// WithSpanProcessor adds a span processor to the provider, and installs
// the SDK provider even without --otlp-endpoint: for tests, with
// tracetest.NewSpanRecorder().
func WithSpanProcessor(sp sdktrace.SpanProcessor) Option {
	return func(o *options) { o.processors = append(o.processors, sp) }
}

// Propagator is the propagator of every process: W3C Trace Context only.
// Baggage is not propagated: it would carry whatever a caller put in it
// into every service and log.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// ServiceName is the service.name resource attribute of a process running
// service ("" runs them all).
func ServiceName(service string) string {
	if service == "" {
		service = "all"
	}
	return "gatehouse-" + service
}

// Setup installs tracing for the process as cfg says, and returns the
// function that flushes the spans still buffered and uninstalls it (call
// it after the App has stopped). With --otlp-endpoint, spans are batched
// to the exporter WithExporter gives.
func Setup(ctx context.Context, cfg *config.Config, opts ...Option) (shutdown func(context.Context) error, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	otel.SetTextMapPropagator(Propagator())
	if cfg.OTLPEndpoint == "" && len(o.processors) == 0 {
		// Off: no SDK provider, and Enabled says so, so that the
		// listeners and clients install no instrumentation at all.
		return func(context.Context) error { return nil }, nil
	}
	res, err := resource.Merge(resource.Default(),
		resource.NewSchemaless(semconv.ServiceName(ServiceName(cfg.Service))))
	if err != nil {
		return nil, errors.New("tracing: resource: " + err.Error())
	}
	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler()),
	}
	if cfg.OTLPEndpoint != "" {
		if o.exporter == nil {
			return nil, errors.New("tracing: --otlp-endpoint is set but this program has no OTLP exporter")
		}
		exp, err := o.exporter(ctx, cfg)
		if err != nil {
			return nil, errors.New("tracing: OTLP exporter: " + err.Error())
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
		// Export failures are logged (JSON, like every other line) rather
		// than printed by OpenTelemetry's own logger.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			slog.Default().Warn("opentelemetry", "error", err.Error())
		}))
	}
	for _, sp := range o.processors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	enabled.Add(1)
	return func(ctx context.Context) error {
		enabled.Add(-1)
		otel.SetTracerProvider(prev)
		return tp.Shutdown(ctx)
	}, nil
}

// enabled counts the installed providers (tests may nest Setups).
var enabled atomic.Int32

// Enabled reports whether Setup installed a tracer provider. Without one
// the servers and clients are built without instrumentation: tracing off
// costs nothing per request (the otelhttp and otelgrpc handlers cost
// about 9 KB and 120 allocations per REST request even with a no-op
// provider).
func Enabled() bool { return enabled.Load() > 0 }

// sampler records every request. A span with a parent in this process
// follows its parent; one continuing a caller's trace (a remote parent) is
// sampled whatever the caller's traceparent flags say, so that a caller
// can neither hide its requests from the traces nor choose what is kept.
func sampler() sdktrace.Sampler {
	return sdktrace.ParentBased(sdktrace.AlwaysSample(),
		sdktrace.WithRemoteParentSampled(sdktrace.AlwaysSample()),
		sdktrace.WithRemoteParentNotSampled(sdktrace.AlwaysSample()))
}
