package token

import (
	"context"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

// FollowClientChanges subscribes to ClientChanged events
// (gatehouse.clients.v1) and drops every cached verification of the client
// an event names, so a rotated secret, a disabled or deleted client, or
// changed scopes, grants or resources take effect at once. An event that
// cannot be decoded or names no client empties the cache.
//
// NATS is the fast path: an event missed while disconnected is covered by
// the cache TTL (60 s by default); call InvalidateAll from the connection's
// reconnect handler to close even that window. The subscription ends when
// ctx is done or stop is called.
func (s *Service) FollowClientChanges(ctx context.Context, nc *nats.Conn) (stop func(), err error) {
	return authn.Follow(ctx, nc, authn.ClientsSubject, s.applyClientChanged)
}

func (s *Service) applyClientChanged(data []byte) {
	ev := &eventsv1.ClientChanged{}
	if err := proto.Unmarshal(data, ev); err != nil || ev.GetClientId() == "" {
		s.InvalidateAll()
		return
	}
	s.InvalidateClient(ev.GetClientId())
}
