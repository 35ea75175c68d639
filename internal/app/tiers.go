package app

import (
	"context"
	"sync"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

// tiers remembers each client's rate-limit tier, which a JWT does not
// carry, so that the validator limits token callers by their client's tier
// like API-key callers. Entries are dropped on ClientChanged and on reconnect.
type tiers struct {
	registry interface {
		GetClient(context.Context, *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error)
	}
	mu sync.RWMutex
	m  map[string]string
}

const maxTierEntries = 100_000

func (t *tiers) get(ctx context.Context, clientID string) string {
	t.mu.RLock()
	tier, ok := t.m[clientID]
	t.mu.RUnlock()
	if ok {
		return tier
	}
	resp, err := t.registry.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: clientID})
	if err != nil {
		// Unknown or unreachable: the standard budget, not a refusal.
		return ""
	}
	tier = clients.TierName(resp.GetClient().GetRateLimitTier())
	t.mu.Lock()
	if len(t.m) >= maxTierEntries {
		clear(t.m)
	}
	t.m[clientID] = tier
	t.mu.Unlock()
	return tier
}

func (t *tiers) drop(clientID string) {
	t.mu.Lock()
	if clientID == "" {
		clear(t.m)
	} else {
		delete(t.m, clientID)
	}
	t.mu.Unlock()
}

func (t *tiers) follow(ctx context.Context, nc *nats.Conn) (func(), error) {
	return authn.Follow(ctx, nc, events.SubjectClients, func(data []byte) {
		var ev eventsv1.ClientChanged
		if proto.Unmarshal(data, &ev) == nil {
			t.drop(ev.GetClientId())
		} else {
			t.drop("")
		}
	})
}
