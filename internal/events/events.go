// Package events connects Gatehouse to NATS: it runs the embedded server of
// the default single-process mode and publishes the registry's events.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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
	opts := &server.Options{
		ServerName: "gatehouse-embedded",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
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
	nc *nats.Conn
}

// NewPublisher returns a Publisher on nc.
func NewPublisher(nc *nats.Conn) *Publisher { return &Publisher{nc: nc} }

// PublishClientChanged implements clients.Publisher.
func (p *Publisher) PublishClientChanged(_ context.Context, ev *eventsv1.ClientChanged) error {
	return p.publish(SubjectClients, ev)
}

// PublishKeyRotated implements keys.Publisher.
func (p *Publisher) PublishKeyRotated(_ context.Context, ev *eventsv1.KeyRotated) error {
	return p.publish(SubjectKeys, ev)
}

func (p *Publisher) publish(subject string, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("events: marshal %s: %w", subject, err)
	}
	if err := p.nc.Publish(subject, b); err != nil {
		return fmt.Errorf("events: publish %s: %w", subject, err)
	}
	return nil
}
