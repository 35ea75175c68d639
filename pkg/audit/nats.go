package audit

import (
	"context"
	"fmt"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

// Subject is the NATS subject of AuthFailure events.
const Subject = "gatehouse.audit.v1"

type natsPublisher struct {
	nc *nats.Conn
}

// NewNATSPublisher returns a Publisher that sends each event, proto-encoded,
// on Subject with a core NATS publish. Core publish only appends to the
// connection's buffer (also while reconnecting, up to its reconnect
// buffer), so it does not wait for the server. A nil nc publishes nothing.
func NewNATSPublisher(nc *nats.Conn) Publisher {
	return natsPublisher{nc: nc}
}

func (p natsPublisher) PublishAuthFailure(_ context.Context, ev *eventsv1.AuthFailure) error {
	if p.nc == nil {
		return nil
	}
	b, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("audit: marshal AuthFailure: %w", err)
	}
	if err := p.nc.Publish(Subject, b); err != nil {
		return fmt.Errorf("audit: publish %s: %w", Subject, err)
	}
	return nil
}
