package authn

import (
	"context"
	"github.com/gatehouse-dev/gatehouse/pkg/internal/natsfake"
	"testing"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

func TestApplyClientChanged(t *testing.T) {
	type ev = eventsv1.ClientChanged
	tests := []struct {
		name string
		data func(ids map[string]string) []byte
		// kept lists the keys still cached afterwards.
		kept []string
	}{
		{name: "client updated", data: func(map[string]string) []byte {
			return mustMarshal(&ev{ClientId: "client-a", Change: eventsv1.ClientChanged_CHANGE_UPDATED})
		}, kept: []string{"b1"}},
		{name: "client disabled", data: func(map[string]string) []byte {
			return mustMarshal(&ev{ClientId: "client-b", Change: eventsv1.ClientChanged_CHANGE_DISABLED})
		}, kept: []string{"a1", "a2"}},
		{name: "key revoked without client", data: func(ids map[string]string) []byte {
			return mustMarshal(&ev{KeyId: ids["a1"], Change: eventsv1.ClientChanged_CHANGE_API_KEY_REVOKED})
		}, kept: []string{"a2", "b1"}},
		{name: "key rotated", data: func(ids map[string]string) []byte {
			return mustMarshal(&ev{ClientId: "client-b", KeyId: ids["b1"], Change: eventsv1.ClientChanged_CHANGE_API_KEY_ROTATED})
		}, kept: []string{"a1", "a2"}},
		{name: "undecodable event empties the cache", data: func(map[string]string) []byte { return []byte{0xff, 0xff, 0xff} }},
		{name: "event naming nothing empties the cache", data: func(map[string]string) []byte { return mustMarshal(&ev{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, raws, ids := cachedKeys(t)
			a.applyClientChanged(tt.data(ids))
			if a.cacheLen() != len(tt.kept) {
				t.Fatalf("cache holds %d keys, want %d", a.cacheLen(), len(tt.kept))
			}
			for _, name := range tt.kept {
				if _, ok := a.entries[hashKey(raws[name])]; !ok {
					t.Errorf("key %s was dropped", name)
				}
			}
		})
	}
}

func TestFollowClientChanges(t *testing.T) {
	srv := natsfake.Start(t)
	sub, err := nats.Connect(srv.URL(), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub, err := nats.Connect(srv.URL(), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	a, _, _ := cachedKeys(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, err := a.FollowClientChanges(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil { // the SUB has reached the server
		t.Fatal(err)
	}
	publish := func(ev *eventsv1.ClientChanged) {
		t.Helper()
		if err := pub.Publish(ClientsSubject, mustMarshal(ev)); err != nil {
			t.Fatal(err)
		}
		if err := pub.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	publish(&eventsv1.ClientChanged{ClientId: "client-a", Change: eventsv1.ClientChanged_CHANGE_DISABLED})
	waitFor(t, func() bool { return a.cacheLen() == 1 })

	stop()
	stop() // idempotent
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	publish(&eventsv1.ClientChanged{ClientId: "client-b", Change: eventsv1.ClientChanged_CHANGE_DISABLED})
	// The UNSUB reached the fake server before this publish, so nothing is
	// delivered; the cache keeps client-b's key.
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	if a.cacheLen() != 1 {
		t.Fatal("an event was applied after stop")
	}

	if _, err := a.FollowClientChanges(ctx, nil); err == nil {
		t.Fatal("nil connection accepted")
	}
}

func TestFollowEndsWithContext(t *testing.T) {
	srv := natsfake.Start(t)
	nc, err := nats.Connect(srv.URL(), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	a, _, _ := cachedKeys(t)
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := a.FollowClientChanges(ctx, nc); err != nil {
		t.Fatal(err)
	}
	if nc.NumSubscriptions() != 1 {
		t.Fatalf("subscriptions = %d", nc.NumSubscriptions())
	}
	cancel()
	waitFor(t, func() bool { return nc.NumSubscriptions() == 0 })
}

// cachedKeys returns an authenticator with keys a1, a2 (client-a) and b1
// (client-b) cached.
func cachedKeys(t *testing.T) (*APIKeyAuthenticator, map[string]string, map[string]string) {
	t.Helper()
	f := newFakeVerifier()
	raws, ids := map[string]string{}, map[string]string{}
	for name, client := range map[string]string{"a1": "client-a", "a2": "client-a", "b1": "client-b"} {
		raws[name], ids[name] = f.add(t, accepted(client, 0, "s"))
	}
	a := NewAPIKeyAuthenticator(f)
	for _, raw := range raws {
		if _, err := a.Authenticate(context.Background(), raw); err != nil {
			t.Fatal(err)
		}
	}
	return a, raws, ids
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// waitFor polls cond until it holds: it waits for an asynchronous delivery
// to be applied, it does not time anything.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
