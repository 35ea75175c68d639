// Package events connects Gatehouse to NATS: it runs the embedded server of
// the default single-process mode and publishes the registry's events.
//
// Every publish is a producer span of the publishing request's trace, and
// the message carries its W3C traceparent in a NATS header, so that a
// subscriber can continue the trace.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// Subjects, as in DESIGN.md.
const (
	SubjectClients    = "gatehouse.clients.v1"
	SubjectAudit      = "gatehouse.audit.v1"
	SubjectRevocation = "gatehouse.revocation.v1"
	SubjectKeys       = "gatehouse.keys.v1"
)

// Embedded is a NATS server with JetStream running inside the process,
// listening on a free loopback port only.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts the server with its JetStream store under dataDir.
func StartEmbedded(dataDir string) (*Embedded, error) {
	return StartEmbeddedAt(dataDir, "127.0.0.1:0")
}

// StartEmbeddedAt is StartEmbedded listening on addr (port 0: a random
// one).
func StartEmbeddedAt(dataDir, addr string) (*Embedded, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("events: embedded nats address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("events: embedded nats address %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "gatehouse-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "nats"),
		NoSigs:     true,
		NoLog:      true,
		// Only this process connects; keep payloads small.
		MaxPayload: 1 << 20,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("events: embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("events: embedded nats did not become ready in 10s")
	}
	return &Embedded{srv: srv}, nil
}

// URL is the loopback client URL of the server.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits for it.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// Connect dials NATS, retrying in the background if the server goes away,
// and logs connection changes.
func Connect(url, name string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.Timeout(5*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", "error", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
		}),
		// Keep publishing into the reconnect buffer while the server is away.
		nats.ReconnectBufSize(8<<20),
		// Asynchronous errors (a slow consumer, a write that failed as the
		// server went away) go to the process's log: nats.go's default
		// writes a bare line to stderr, outside the JSON log.
		nats.ErrorHandler(func(c *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{"error", err}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
			}
			level := slog.LevelWarn
			if c.IsClosed() || c.IsDraining() {
				level = slog.LevelDebug // the connection is being shut down
			}
			log.Log(context.Background(), level, "nats async error", attrs...)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("events: connect to nats: %w", err)
	}
	return nc, nil
}

// Publisher publishes proto-encoded events on core NATS. Core publishes are
// buffered and never block a request; subscribers that miss one (they were
// disconnected) fall back on their caches' TTL or on a re-sync.
type Publisher struct {
	nc     *nats.Conn
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// NewPublisher returns a Publisher on nc, traced by the global
// TracerProvider and propagator of the time.
func NewPublisher(nc *nats.Conn) *Publisher {
	return &Publisher{
		nc:     nc,
		tracer: otel.GetTracerProvider().Tracer(tracing.InstrumentationName + "/events"),
		prop:   otel.GetTextMapPropagator(),
	}
}

// PublishClientChanged implements clients.Publisher.
func (p *Publisher) PublishClientChanged(ctx context.Context, ev *eventsv1.ClientChanged) error {
	return p.publish(ctx, SubjectClients, ev)
}

// PublishKeyRotated implements keys.Publisher.
func (p *Publisher) PublishKeyRotated(ctx context.Context, ev *eventsv1.KeyRotated) error {
	return p.publish(ctx, SubjectKeys, ev)
}

func (p *Publisher) publish(ctx context.Context, subject string, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("events: marshal %s: %w", subject, err)
	}
	// The span names the subject only: never the payload.
	ctx, span := p.tracer.Start(ctx, "send "+subject,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			semconv.MessagingSystemKey.String("nats"),
			semconv.MessagingDestinationName(subject),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName("publish"),
		))
	defer span.End()
	msg := &nats.Msg{Subject: subject, Data: b}
	if span.SpanContext().IsValid() {
		msg.Header = nats.Header{}
		p.prop.Inject(ctx, headerCarrier(msg.Header))
	}
	if err := p.nc.PublishMsg(msg); err != nil {
		span.SetStatus(codes.Error, "publish failed")
		return fmt.Errorf("events: publish %s: %w", subject, err)
	}
	return nil
}

// headerCarrier carries the trace context in a NATS message's headers.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string { return nats.Header(c).Get(key) }

func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
