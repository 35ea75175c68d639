package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeKeyService is the key service as the token service's keyPeer sees
// it: the active key, which the test rotates, or an outage.
type fakeKeyService struct {
	keysv1.KeyManagementServiceClient // other methods: not called

	mu    sync.Mutex
	kid   string
	jwk   []byte
	down  bool
	calls int
	// stale calls answer with the key before the last rotation, as a
	// replica that has not loaded the rotation yet does.
	stale   int
	prevKid string
	prevJWK []byte
	// activated is when each kid became active (the rotation's time).
	activated map[string]time.Time
}

func (f *fakeKeyService) rotate(t *testing.T) string {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := jwk.AssignKeyID(k); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prevKid, f.prevJWK = f.kid, f.jwk
	f.kid, f.jwk = k.KeyID(), b
	if f.activated == nil {
		f.activated = map[string]time.Time{}
	}
	f.activated[f.kid] = time.Now().Add(time.Duration(len(f.activated)) * time.Second)
	return k.KeyID()
}

func (f *fakeKeyService) GetSigningKey(context.Context, *keysv1.GetSigningKeyRequest, ...grpc.CallOption) (*keysv1.GetSigningKeyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return nil, errors.New("unavailable")
	}
	kid, b := f.kid, f.jwk
	if f.stale > 0 {
		f.stale--
		kid, b = f.prevKid, f.prevJWK
	}
	key := &keysv1.SigningKey{Kid: kid, Alg: "ES256"}
	if at, ok := f.activated[kid]; ok {
		key.ActivateTime = timestamppb.New(at)
	}
	return &keysv1.GetSigningKeyResponse{Key: key, PrivateJwk: append([]byte(nil), b...)}, nil
}

// TestKeyPeer: the token service of a split deployment holds the key
// service's active key in memory, the same jwk.Key until the kid changes
// (so its prepared signer is reused), fetches it again on a key event, and
// keeps signing with the key it holds while the key service is away.
func TestKeyPeer(t *testing.T) {
	ks := &fakeKeyService{}
	first := ks.rotate(t)
	p := newKeyPeer(ks, slog.New(slog.DiscardHandler))
	ctx := t.Context()

	a, err := p.SigningKey(ctx)
	if err != nil || a.KID != first || a.Alg.String() != "ES256" {
		t.Fatalf("first key: %+v %v", a, err)
	}
	b, _ := p.SigningKey(ctx)
	if b.Key != a.Key || ks.calls != 1 {
		t.Fatalf("second call: same key %v, %d calls; want the held key and 1 call", b.Key == a.Key, ks.calls)
	}
	// A key event with the same key: fetched again, the same jwk.Key kept.
	p.changed(true, "")
	if c, _ := p.SigningKey(ctx); c.Key != a.Key || ks.calls != 2 {
		t.Fatalf("after an event without a new key: same key %v, %d calls", c.Key == a.Key, ks.calls)
	}
	// A rotation: the new key at the event.
	second := ks.rotate(t)
	p.changed(true, "")
	c, err := p.SigningKey(ctx)
	if err != nil || c.KID != second || c.Key == a.Key {
		t.Fatalf("after a rotation: %s %v, want %s", c.KID, err, second)
	}
	// A rotation announced while the replica asked first has not loaded
	// it: asked again until it answers with the activated key.
	third := ks.rotate(t)
	ks.mu.Lock()
	ks.stale = 3
	ks.mu.Unlock()
	p.changed(true, third)
	if c, err := p.SigningKey(ctx); err != nil || c.KID != third {
		t.Fatalf("after a rotation seen late by the key service: %s %v, want %s", c.KID, err, third)
	}
	// A fetch that a replica behind the rotation answers after one that
	// got the new key (the events of one rotation refetch concurrently):
	// the older key is not taken back.
	ks.mu.Lock()
	ks.stale = 1
	ks.mu.Unlock()
	p.changed(true, "")
	if c, err := p.SigningKey(ctx); err != nil || c.KID != third {
		t.Fatalf("after a late answer with the replaced key: %s %v, want to keep %s", c.KID, err, third)
	}
	second = third
	// The key service away: the key held is still used, after the
	// refresh interval too.
	ks.mu.Lock()
	ks.down = true
	ks.mu.Unlock()
	p.changed(true, "")
	if d, err := p.SigningKey(ctx); err != nil || d.KID != second {
		t.Fatalf("key service away: %s %v, want the held %s", d.KID, err, second)
	}
	// A fresh peer with the key service away has nothing to sign with.
	if _, err := newKeyPeer(ks, slog.New(slog.DiscardHandler)).SigningKey(ctx); err == nil {
		t.Fatal("no key and no key service: signed anyway")
	}
	// A response whose JWK does not match its kid is refused.
	ks.mu.Lock()
	ks.down, ks.kid = false, "not-the-kid"
	ks.mu.Unlock()
	if _, err := newKeyPeer(ks, slog.New(slog.DiscardHandler)).SigningKey(ctx); err == nil {
		t.Fatal("a JWK with another kid was taken")
	}
}

func TestActivatedKid(t *testing.T) {
	for _, tc := range []struct {
		ev   *eventsv1.KeyRotated
		want string
	}{
		{&eventsv1.KeyRotated{Kid: "k2", State: "ACTIVE", JwksVersion: 3}, "k2"},
		{&eventsv1.KeyRotated{Kid: "k2", State: "PENDING", JwksVersion: 2}, ""},
		{&eventsv1.KeyRotated{Kid: "k1", State: "RETIRED", JwksVersion: 3}, ""},
	} {
		b, err := proto.Marshal(tc.ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := activatedKid(b); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.ev, got, tc.want)
		}
	}
	if got := activatedKid([]byte("\xff not an event")); got != "" {
		t.Errorf("garbage: %q", got)
	}
}
