package token_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

// TestVerificationCache: a known client's second token costs no registry
// round trip; wrong secrets are never cached; entries end at the TTL and on
// InvalidateClient / InvalidateAll.
func TestVerificationCache(t *testing.T) {
	e := newEnv(t)
	issue := func(cl registered) int {
		t.Helper()
		return e.tokenFor(nil, cl, "").status
	}
	steps := []struct {
		name         string
		before       func()
		client       registered
		status       int
		wantVerifies int64 // VerifyClientSecret calls made by this step
	}{
		{"first token asks the registry", nil, e.partner, 200, 1},
		{"second token is a cache hit", nil, e.partner, 200, 0},
		{"many more are cache hits", nil, e.partner, 200, 0},
		{"another client is its own entry", nil, e.introspector, 200, 1},
		{"a wrong secret always asks", nil, registered{e.partner.id, "wrong"}, 401, 1},
		{"and is not cached", nil, registered{e.partner.id, "wrong"}, 401, 1},
		{"the right secret still hits", nil, e.partner, 200, 0},
		{"59 s later still a hit", func() { e.clock.Advance(59 * time.Second) }, e.partner, 200, 0},
		{"past the TTL asks again", func() { e.clock.Advance(2 * time.Second) }, e.partner, 200, 1},
		{"InvalidateClient drops it", func() { e.svc.InvalidateClient(e.partner.id) }, e.partner, 200, 1},
		{"the other client's entry expired too", nil, e.introspector, 200, 1},
		{"other clients keep theirs", func() { e.svc.InvalidateClient(e.partner.id) }, e.introspector, 200, 0},
		{"InvalidateAll drops everything", func() { e.svc.InvalidateAll() }, e.introspector, 200, 1},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		n := e.spy.verifies.Load()
		if got := issue(st.client); got != st.status {
			t.Fatalf("%s: status %d, want %d", st.name, got, st.status)
		}
		if got := e.spy.verifies.Load() - n; got != st.wantVerifies {
			t.Errorf("%s: %d VerifyClientSecret calls, want %d", st.name, got, st.wantVerifies)
		}
	}
}

// unknownRefresh is a well-formed refresh token no family has.
var unknownRefresh = strings.Repeat("A", 43)

// TestPublicClientCache: a client that presents only its client_id is
// looked up in the registry once per TTL, and again after InvalidateClient
// (a ClientChanged event), so a disabled public client is refused at once.
func TestPublicClientCache(t *testing.T) {
	e := newEnv(t, withFlow())
	// An unknown refresh token: the client is looked up, the grant refused.
	refresh := func() int {
		t.Helper()
		return e.do(nil, request{path: "/oauth2/token", body: "grant_type=refresh_token&client_id=" + e.spa.id + "&refresh_token=" + unknownRefresh}).status
	}
	steps := []struct {
		name     string
		before   func()
		status   int
		wantGets int64 // GetClient calls made by this step
	}{
		{"first request asks the registry", nil, http.StatusBadRequest, 1},
		{"second is a cache hit", nil, http.StatusBadRequest, 0},
		{"59 s later still a hit", func() { e.clock.Advance(59 * time.Second) }, http.StatusBadRequest, 0},
		{"past the TTL asks again", func() { e.clock.Advance(2 * time.Second) }, http.StatusBadRequest, 1},
		{"a secret verification of another client keeps it", func() { e.accessToken(e.partner, "") }, http.StatusBadRequest, 0},
		{"InvalidateClient drops it", func() { e.svc.InvalidateClient(e.spa.id) }, http.StatusBadRequest, 1},
		{"InvalidateAll drops it", func() { e.svc.InvalidateAll() }, http.StatusBadRequest, 1},
		{"a disabled client is refused at its change", func() {
			e.update(&clientsv1.Client{ClientId: e.spa.id, Disabled: true}, "disabled")
		}, http.StatusUnauthorized, 1},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		n := e.spy.gets.Load()
		if got := refresh(); got != st.status {
			t.Fatalf("%s: status %d, want %d", st.name, got, st.status)
		}
		if got := e.spy.gets.Load() - n; got != st.wantGets {
			t.Errorf("%s: %d GetClient calls, want %d", st.name, got, st.wantGets)
		}
	}
}

// TestClientChangedDropsCache: ClientChanged events on the embedded NATS
// drop the client's cached verifications, so a disabled client or a revoked
// secret stops working at once rather than at the TTL.
func TestClientChangedDropsCache(t *testing.T) {
	e := newEnv(t, withFlow())
	ns, err := events.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := events.Connect(ns.URL(), "token-test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, err := e.svc.FollowClientChanges(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := nc.Flush(); err != nil { // the subscription is in place
		t.Fatal(err)
	}
	pub := events.NewPublisher(nc)

	// waitForVerify issues tokens until one asks the registry again.
	waitForVerify := func(cl registered) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for n := e.spy.verifies.Load(); e.spy.verifies.Load() == n; {
			if time.Now().After(deadline) {
				t.Fatal("the cache entry was not dropped within 5s")
			}
			e.tokenFor(nil, cl, "")
			time.Sleep(5 * time.Millisecond)
		}
	}

	t.Run("a published ClientChanged drops the entry", func(t *testing.T) {
		e.accessToken(e.partner, "")
		e.accessToken(e.introspector, "")
		if err := pub.PublishClientChanged(ctx, &eventsv1.ClientChanged{ClientId: e.partner.id, Change: eventsv1.ClientChanged_CHANGE_UPDATED}); err != nil {
			t.Fatal(err)
		}
		waitForVerify(e.partner)
		// The other client's entry survived.
		n := e.spy.verifies.Load()
		e.accessToken(e.introspector, "")
		if e.spy.verifies.Load() != n {
			t.Error("an event for one client dropped another's entry")
		}
	})

	t.Run("an undecodable event empties the cache", func(t *testing.T) {
		e.accessToken(e.introspector, "")
		if err := nc.Publish("gatehouse.clients.v1", []byte{0xff, 0xff}); err != nil {
			t.Fatal(err)
		}
		waitForVerify(e.introspector)
	})

	t.Run("disabling a client through the registry stops it at once", func(t *testing.T) {
		reg := clients.New(e.store, clients.WithPublisher(pub))
		r := e.do(nil, request{path: "/oauth2/token", body: "grant_type=client_credentials&client_id=" + e.poster.id + "&client_secret=" + e.poster.secret})
		if r.status != http.StatusOK {
			t.Fatalf("before: %d %s", r.status, r.body)
		}
		if _, err := reg.UpdateClient(ctx, &clientsv1.UpdateClientRequest{
			Client: &clientsv1.Client{ClientId: e.poster.id, Disabled: true}, UpdateMask: fieldMask("disabled"),
		}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := e.do(nil, request{path: "/oauth2/token", body: "grant_type=client_credentials&client_id=" + e.poster.id + "&client_secret=" + e.poster.secret})
			if r.status == http.StatusUnauthorized {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the disabled client still gets tokens: %d %s", r.status, r.body)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	t.Run("disabling a public client through the registry stops it at once", func(t *testing.T) {
		reg := clients.New(e.store, clients.WithPublisher(pub))
		refresh := func() int {
			return e.do(nil, request{path: "/oauth2/token", body: "grant_type=refresh_token&client_id=" + e.cookieSPA.id + "&refresh_token=" + unknownRefresh}).status
		}
		if got := refresh(); got != http.StatusBadRequest {
			t.Fatalf("before: %d", got)
		}
		if _, err := reg.UpdateClient(ctx, &clientsv1.UpdateClientRequest{
			Client: &clientsv1.Client{ClientId: e.cookieSPA.id, Disabled: true}, UpdateMask: fieldMask("disabled"),
		}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for refresh() != http.StatusUnauthorized {
			if time.Now().After(deadline) {
				t.Fatal("the disabled public client is still looked up from the cache")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	t.Run("stop ends the subscription", func(t *testing.T) {
		stop()
		e.accessToken(e.partner, "")
		if err := pub.PublishClientChanged(ctx, &eventsv1.ClientChanged{ClientId: e.partner.id}); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		n := e.spy.verifies.Load()
		e.accessToken(e.partner, "")
		if e.spy.verifies.Load() != n {
			t.Error("an event after stop still dropped the entry")
		}
	})
}
