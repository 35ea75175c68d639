package authn

import (
	"context"
	"fmt"
	"sync"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

// ClientsSubject is the NATS subject of ClientChanged events.
const ClientsSubject = "gatehouse.clients.v1"

// FollowClientChanges subscribes to ClientChanged events and drops the
// cached keys they concern: every change of a client drops that client's
// keys, and a change naming a key (rotation, revocation) drops that key.
// An event that cannot be decoded, or names neither, empties the cache.
//
// NATS is the fast path: an event lost while the connection is down is
// covered by the cache TTL (call InvalidateAll from the connection's
// reconnect handler to close even that window). The subscription ends when
// ctx is done or stop is called.
func (a *APIKeyAuthenticator) FollowClientChanges(ctx context.Context, nc *nats.Conn) (stop func(), err error) {
	return Follow(ctx, nc, ClientsSubject, a.applyClientChanged)
}

// Follow subscribes handle to subject until ctx is done or stop is called;
// stop is safe to call more than once. The caches that events keep fresh
// (API keys, JWKS, a token service's clients) all follow their subject
// this way.
func Follow(ctx context.Context, nc *nats.Conn, subject string, handle func(data []byte)) (stop func(), err error) {
	if nc == nil {
		return nil, fmt.Errorf("authn: follow %s: nil NATS connection", subject)
	}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) { handle(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("authn: subscribe %s: %w", subject, err)
	}
	var once sync.Once
	unsubscribe := func() { once.Do(func() { _ = sub.Unsubscribe() }) }
	stopAfter := context.AfterFunc(ctx, unsubscribe)
	return func() {
		stopAfter()
		unsubscribe()
	}, nil
}

// applyClientChanged invalidates what a ClientChanged event concerns.
func (a *APIKeyAuthenticator) applyClientChanged(data []byte) {
	ev := &eventsv1.ClientChanged{}
	if err := proto.Unmarshal(data, ev); err != nil || (ev.GetClientId() == "" && ev.GetKeyId() == "") {
		a.InvalidateAll()
		return
	}
	if id := ev.GetClientId(); id != "" {
		a.InvalidateClient(id)
	}
	if id := ev.GetKeyId(); id != "" {
		a.InvalidateKey(id)
	}
}
