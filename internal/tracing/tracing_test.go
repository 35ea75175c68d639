package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func logLine(t *testing.T, log func(*slog.Logger)) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	log(slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "test"))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	return m
}

func spanContext(t *testing.T, flags trace.TraceFlags, remote bool) trace.SpanContext {
	t.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: remote})
}

// TestLogHandlerRequestID: a record logged with a request's context gets
// its request_id, without a span too, and only once when the record names
// it already (the audit line).
func TestLogHandlerRequestID(t *testing.T) {
	ctx := requestid.NewContext(context.Background(), "req-7")
	m := logLine(t, func(l *slog.Logger) { l.InfoContext(ctx, "in a request") })
	if m["request_id"] != "req-7" {
		t.Fatalf("request_id: %v", m)
	}
	var buf bytes.Buffer
	slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).LogAttrs(ctx, slog.LevelWarn, "audit", slog.String("request_id", "req-7"))
	if n := strings.Count(buf.String(), `"request_id"`); n != 1 {
		t.Fatalf("request_id %d times: %s", n, buf.String())
	}
	m = logLine(t, func(l *slog.Logger) { l.InfoContext(context.Background(), "outside") })
	if _, ok := m["request_id"]; ok {
		t.Fatalf("request_id outside a request: %v", m)
	}
}

// TestLogHandler: a record logged with a context carrying a valid span
// gets its trace_id and span_id; without one (or with an invalid one) the
// record is unchanged.
func TestLogHandler(t *testing.T) {
	sc := spanContext(t, trace.FlagsSampled, false)
	ctx := trace.ContextWithSpanContext(context.Background(), sc)

	m := logLine(t, func(l *slog.Logger) { l.InfoContext(ctx, "in a request", "k", "v") })
	if m["trace_id"] != sc.TraceID().String() || m["span_id"] != sc.SpanID().String() {
		t.Fatalf("with a span: %v", m)
	}
	if m["service"] != "test" || m["k"] != "v" || m["msg"] != "in a request" {
		t.Fatalf("the record's own attributes: %v", m)
	}
	m = logLine(t, func(l *slog.Logger) {
		l.WithGroup("g").LogAttrs(ctx, slog.LevelWarn, "grouped", slog.Int("n", 1))
	})
	if g, _ := m["g"].(map[string]any); g["trace_id"] != sc.TraceID().String() {
		t.Fatalf("a grouped logger: %v", m)
	}

	for name, ctx := range map[string]context.Context{
		"no span":      context.Background(),
		"invalid span": trace.ContextWithSpanContext(context.Background(), trace.SpanContext{}),
	} {
		m := logLine(t, func(l *slog.Logger) { l.InfoContext(ctx, "outside a request") })
		if _, ok := m["trace_id"]; ok {
			t.Fatalf("%s: %v", name, m)
		}
		if _, ok := m["span_id"]; ok {
			t.Fatalf("%s: %v", name, m)
		}
	}
	// Without a context at all.
	m = logLine(t, func(l *slog.Logger) { l.Info("no context") })
	if _, ok := m["trace_id"]; ok {
		t.Fatalf("Info without a context: %v", m)
	}
	if LogHandler(LogHandler(slog.DiscardHandler)) != LogHandler(slog.DiscardHandler) {
		t.Fatal("LogHandler wraps twice")
	}
}

// TestSetupOff: without --otlp-endpoint Setup installs no SDK provider
// (the global stays the no-op one, nothing is recorded), only the W3C
// propagator.
func TestSetupOff(t *testing.T) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	before := otel.GetTracerProvider()
	shutdown, err := Setup(context.Background(), &config.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if otel.GetTracerProvider() != before {
		t.Fatalf("Setup without an endpoint installed %T", otel.GetTracerProvider())
	}
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); ok {
		t.Fatal("an SDK provider is installed")
	}
	_, span := otel.Tracer("test").Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Fatal("a span is recorded with tracing off")
	}
	span.End()
	if got := otel.GetTextMapPropagator().Fields(); strings.Join(got, ",") != "traceparent,tracestate" {
		t.Fatalf("propagator fields %v, want W3C Trace Context's only (no baggage)", got)
	}
	if Enabled() {
		t.Fatal("Enabled with tracing off: the servers would be instrumented")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestSetupRecorder: with a span processor (what the tests use) Setup
// installs the SDK provider: service.name gatehouse-<service>, every span
// sampled, even one whose caller said not sampled; shutdown restores the
// previous provider.
func TestSetupRecorder(t *testing.T) {
	before := otel.GetTracerProvider()
	rec := tracetest.NewSpanRecorder()
	shutdown, err := Setup(context.Background(), &config.Config{Service: "inventory"}, WithSpanProcessor(rec))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); !ok {
		t.Fatalf("provider %T, want the SDK's", otel.GetTracerProvider())
	}
	remote := trace.ContextWithRemoteSpanContext(context.Background(), spanContext(t, 0, true))
	_, span := otel.Tracer("test").Start(remote, "server")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if otel.GetTracerProvider() != before {
		t.Fatal("shutdown did not restore the previous provider")
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if !s.SpanContext().IsSampled() || s.SpanContext().TraceID() != spanContext(t, 0, true).TraceID() || s.Parent().SpanID() != spanContext(t, 0, true).SpanID() {
		t.Fatalf("span %v parent %v: want the caller's trace, sampled", s.SpanContext(), s.Parent())
	}
	var name string
	for _, kv := range s.Resource().Attributes() {
		if kv.Key == "service.name" {
			name = kv.Value.AsString()
		}
	}
	if name != "gatehouse-inventory" {
		t.Fatalf("service.name %q", name)
	}
	if ServiceName("") != "gatehouse-all" {
		t.Fatalf("ServiceName(\"\") = %q", ServiceName(""))
	}
}

// TestSetupNoExporter: an endpoint without an exporter to send to is an
// error at start, not silence.
func TestSetupNoExporter(t *testing.T) {
	before := otel.GetTracerProvider()
	if _, err := Setup(context.Background(), &config.Config{OTLPEndpoint: "127.0.0.1:4317"}); err == nil {
		t.Fatal("Setup with an endpoint and no exporter succeeded")
	}
	if otel.GetTracerProvider() != before {
		t.Fatal("a provider was installed")
	}
}

// TestConfig: the options, and plaintext export to loopback only.
func TestConfig(t *testing.T) {
	load := func(args ...string) (*config.Config, error) {
		return config.Load(args, func(string) string { return "" }, io.Discard)
	}
	cfg, err := load()
	if err != nil || cfg.OTLPEndpoint != "" || cfg.OTLPInsecure {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	if _, err := load("--otlp-endpoint", "collector"); err == nil {
		t.Fatal("an endpoint without a port is accepted")
	}
	if _, err := load("--otlp-endpoint", "collector.example:4317", "--otlp-insecure"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("plaintext to a remote collector: %v", err)
	}
	for _, ep := range []string{"127.0.0.1:4317", "localhost:4317", "[::1]:4317"} {
		if _, err := load("--otlp-endpoint", ep, "--otlp-insecure"); err != nil {
			t.Fatalf("plaintext to %s: %v", ep, err)
		}
	}
	if cfg, err := load("--otlp-endpoint", "collector.example:4317"); err != nil || cfg.OTLPEndpoint != "collector.example:4317" {
		t.Fatalf("TLS to a remote collector: %v", err)
	}
}

// TestPgxTracer: a query of a traced request is a span named by its
// operation, with no SQL text or argument; a query outside a request makes
// none.
func TestPgxTracer(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	pt := pgxTracer{tracer: tp.Tracer("test")}

	data := pgx.TraceQueryStartData{SQL: "SELECT secret_hash FROM api_keys WHERE key_id = $1", Args: []any{"gth_secret"}}
	if ctx := pt.TraceQueryStart(context.Background(), nil, data); ctx != context.Background() {
		t.Fatal("a span outside a request")
	}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	qctx := pt.TraceQueryStart(ctx, nil, data)
	pt.TraceQueryEnd(qctx, nil, pgx.TraceQueryEndData{})
	parent.End()
	var q sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "postgres SELECT" {
			q = s
		}
	}
	if q == nil || q.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("no query span under the request: %v", rec.Ended())
	}
	for _, kv := range q.Attributes() {
		if strings.Contains(kv.Value.String(), "secret") {
			t.Fatalf("attribute %s = %q", kv.Key, kv.Value.String())
		}
	}
	for sql, want := range map[string]string{"  insert into x": "INSERT", "": "QUERY", "/* c */ select": "QUERY", "WITH a AS": "WITH"} {
		if got := sqlOperation(sql); got != want {
			t.Errorf("sqlOperation(%q) = %q, want %q", sql, got, want)
		}
	}
}
