package authn

import (
	"context"
	"log/slog"
	"strings"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

// KeysSubject is the NATS subject of KeyRotated events.
const KeysSubject = "gatehouse.keys.v1"

// keyStateRemoved is KeyRotated.state for a key gone from the JWKS.
const keyStateRemoved = "REMOVED"

// FollowKeyRotations subscribes to KeyRotated events and fetches the JWKS
// at each one (Refresh), so a new key is known before its first token and
// a removed key stops validating at once. An event saying a key was
// REMOVED drops that kid before the fetch, so the removal holds even if
// the fetch fails. Each event empties the token cache when the key set
// changes.
//
// NATS is the fast path: an event lost while the connection is down is
// covered by WithJWKSMaxAge (call Refresh or InvalidateAll from the
// connection's reconnect handler to close even that window). The
// subscription ends when ctx is done or stop is called.
func (a *JWTAuthenticator) FollowKeyRotations(ctx context.Context, nc *nats.Conn) (stop func(), err error) {
	return Follow(ctx, nc, KeysSubject, func(data []byte) { a.applyKeyRotated(ctx, data) })
}

// applyKeyRotated handles one KeyRotated event. Any event, even one that
// cannot be decoded, causes a fetch.
func (a *JWTAuthenticator) applyKeyRotated(ctx context.Context, data []byte) {
	ev := &eventsv1.KeyRotated{}
	if err := proto.Unmarshal(data, ev); err != nil {
		ev = nil
	}
	a.ApplyKeyEvent(ctx, ev)
}

// ApplyKeyEvent applies a signing-key change however it arrived (NATS, the
// revocation service's Watch stream): a key REMOVED is dropped at once, so
// the removal holds even if the fetch fails, and the JWKS is fetched now,
// whatever the unknown-kid cooldown, so a new key is known before its first
// token. A nil event (a stream or connection was re-established, and
// changes may have been missed) only fetches. It waits for the fetch: call
// it from a goroutine of its own where the caller must not block.
func (a *JWTAuthenticator) ApplyKeyEvent(ctx context.Context, ev *eventsv1.KeyRotated) {
	if ev.GetKid() != "" && strings.EqualFold(ev.GetState(), keyStateRemoved) {
		a.dropKID(ev.GetKid())
	}
	if err := a.Refresh(ctx); err != nil && ctx.Err() == nil {
		a.log.Warn("authn: JWKS refresh after a key change failed", slog.String("error", err.Error()))
	}
}
