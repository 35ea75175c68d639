package authn

import (
	"context"
	"sync"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

// TierName is the pkg/ratelimit tier name of a registered client's tier;
// empty (unspecified) means the limiter's standard tier.
func TierName(t clientsv1.RateLimitTier) string { return tierName(t) }

// maxTierEntries bounds a TierCache; past it the cache starts over rather
// than grow with every client id a caller can make up.
const maxTierEntries = 100_000

// TierCache resolves a client's rate-limit tier from the registry and
// remembers it, for credentials that do not carry one (a JWT names its
// client, not its tier). Pass its Tier to WithTierResolver; follow
// ClientChanged events (FollowClientChanges) so a tier change applies at
// once. It is safe for concurrent use.
type TierCache struct {
	clients ClientGetter
	mu      sync.RWMutex
	m       map[string]string
}

// NewTierCache returns a cache over clients: the registry's gRPC client
// (a connection with the validator's credentials), or the registry in
// process.
func NewTierCache(clients ClientGetter) *TierCache {
	return &TierCache{clients: clients, m: map[string]string{}}
}

// Tier returns clientID's tier name. An unknown client, or a registry that
// cannot be reached, gets "" (the standard budget) and is asked again next
// time: a lookup failure never refuses a request.
func (t *TierCache) Tier(ctx context.Context, clientID string) string {
	t.mu.RLock()
	tier, ok := t.m[clientID]
	t.mu.RUnlock()
	if ok {
		return tier
	}
	resp, err := t.clients.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: clientID})
	if err != nil {
		return ""
	}
	tier = tierName(resp.GetClient().GetRateLimitTier())
	t.mu.Lock()
	if len(t.m) >= maxTierEntries {
		clear(t.m)
	}
	t.m[clientID] = tier
	t.mu.Unlock()
	return tier
}

// Invalidate forgets clientID's tier, or every tier when clientID is "".
func (t *TierCache) Invalidate(clientID string) {
	t.mu.Lock()
	if clientID == "" {
		clear(t.m)
	} else {
		delete(t.m, clientID)
	}
	t.mu.Unlock()
}

// FollowClientChanges forgets a client's tier at each ClientChanged event
// about it, and every tier at an event it cannot read. The subscription
// ends when ctx is done or stop is called.
func (t *TierCache) FollowClientChanges(ctx context.Context, nc *nats.Conn) (stop func(), err error) {
	return Follow(ctx, nc, ClientsSubject, func(data []byte) {
		var ev eventsv1.ClientChanged
		if proto.Unmarshal(data, &ev) == nil {
			t.Invalidate(ev.GetClientId())
		} else {
			t.Invalidate("")
		}
	})
}
