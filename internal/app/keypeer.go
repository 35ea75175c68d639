package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/keys"
	"github.com/gatehouse-dev/gatehouse/services/token"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

// keySource is what the token service and the validators need of the key
// service: the signing key, the JWKS, and word of a key change. In process
// it is the key manager (managerKeys); in a split deployment the key
// service's replicas over gRPC (keyPeer).
type keySource interface {
	token.Signer
	authn.JWKSSource
	// OnChange calls fn after the keys have changed.
	OnChange(fn func())
}

// managerKeys is the key manager in this process.
type managerKeys struct{ m *keys.Manager }

func (k managerKeys) SigningKey(ctx context.Context) (token.SigningKey, error) {
	ak, err := k.m.SigningKey(ctx)
	return token.SigningKey(ak), err
}

func (k managerKeys) JWKS(ctx context.Context) ([]byte, error) { return jwksOf(k.m).JWKS(ctx) }

func (k managerKeys) OnChange(fn func()) { k.m.OnChange(fn) }

// keyPeerRefresh bounds how long a token service signs with a key after a
// rotation whose event it missed: the manager publishes a key
// --key-publish-lead before it signs, and a retired key stays in the JWKS
// until its tokens expire, so a late switch fails no validation.
const keyPeerRefresh = 30 * time.Second

// keyPeer is the key service of a split deployment: the active signing key
// fetched with GetSigningKey (the token service's identity alone may) and
// held in memory, the JWKS with GetJWKS. Both are fetched again on every
// KeyRotated event and every keyPeerRefresh.
type keyPeer struct {
	c   keysv1.KeyManagementServiceClient
	log *slog.Logger

	mu        sync.Mutex
	signing   *token.SigningKey
	fetchedAt time.Time
	// activatedAt is when the held key became active, zero when the key
	// service did not say: an answer with a key activated before it comes
	// from a replica that has not loaded the latest rotation.
	activatedAt time.Time
	jwks        []byte
	jwksAt      time.Time
	listeners   []func()
}

func newKeyPeer(c keysv1.KeyManagementServiceClient, log *slog.Logger) *keyPeer {
	return &keyPeer{c: c, log: log}
}

// SigningKey implements token.Signer. It returns the same jwk.Key until the
// key service's active kid changes, so the token service's prepared signer
// is reused.
func (p *keyPeer) SigningKey(ctx context.Context) (token.SigningKey, error) {
	p.mu.Lock()
	sk, at := p.signing, p.fetchedAt
	p.mu.Unlock()
	if sk != nil && time.Since(at) < keyPeerRefresh {
		return *sk, nil
	}
	fresh, err := p.fetchSigningKey(ctx)
	if err != nil {
		if sk != nil {
			// Keep signing with the key we hold: it stays valid in the
			// JWKS at least until the next rotation's retirement.
			p.log.WarnContext(ctx, "signing key refresh failed; keeping the current key", "kid", sk.KID, "error", err)
			return *sk, nil
		}
		return token.SigningKey{}, err
	}
	return fresh, nil
}

func (p *keyPeer) fetchSigningKey(ctx context.Context) (token.SigningKey, error) {
	resp, err := p.c.GetSigningKey(ctx, &keysv1.GetSigningKeyRequest{})
	if err != nil {
		return token.SigningKey{}, fmt.Errorf("key service: get signing key: %w", err)
	}
	raw := resp.GetPrivateJwk()
	defer clear(raw)
	kid, alg := resp.GetKey().GetKid(), jwa.SignatureAlgorithm(resp.GetKey().GetAlg())
	var activated time.Time
	if at := resp.GetKey().GetActivateTime(); at != nil {
		activated = at.AsTime()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.signing != nil && p.signing.KID == kid {
		p.fetchedAt = time.Now()
		return *p.signing, nil
	}
	if p.signing != nil && !activated.IsZero() && activated.Before(p.activatedAt) {
		// A replica behind the latest rotation answers with the key that
		// rotation replaced: never go back to it. Concurrent fetches after
		// the events of one rotation may come back in any order.
		p.fetchedAt = time.Now()
		p.log.Warn("the key service answered with a key older than the one held; keeping the held key", "held_kid", p.signing.KID, "answered_kid", kid)
		return *p.signing, nil
	}
	key, err := jwk.ParseKey(raw)
	if err != nil {
		// Never wrap: the parser's error could quote key material.
		return token.SigningKey{}, errors.New("key service: get signing key: not a private JWK")
	}
	if _, ok := key.Get(jwk.KeyIDKey); !ok || key.KeyID() != kid || kid == "" {
		return token.SigningKey{}, errors.New("key service: get signing key: kid mismatch")
	}
	sk := &token.SigningKey{KID: kid, Alg: alg, Key: key}
	p.signing, p.fetchedAt, p.activatedAt = sk, time.Now(), activated
	p.log.Info("signing key from the key service", "kid", kid, "alg", alg.String())
	return *sk, nil
}

// JWKS implements authn.JWKSSource, with a short cache so that the token
// service's /.well-known/jwks.json does not call the key service per
// request; validators keep their own copy for --jwks-max-age.
func (p *keyPeer) JWKS(ctx context.Context) ([]byte, error) {
	p.mu.Lock()
	body, at := p.jwks, p.jwksAt
	p.mu.Unlock()
	if body != nil && time.Since(at) < 5*time.Second {
		return body, nil
	}
	resp, err := p.c.GetJWKS(ctx, &keysv1.GetJWKSRequest{})
	if err != nil {
		if body != nil {
			return body, nil
		}
		return nil, fmt.Errorf("key service: get JWKS: %w", err)
	}
	p.mu.Lock()
	p.jwks, p.jwksAt = resp.GetJwksJson(), time.Now()
	p.mu.Unlock()
	return resp.GetJwksJson(), nil
}

// OnChange implements keySource.
func (p *keyPeer) OnChange(fn func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listeners = append(p.listeners, fn)
}

// changed forgets what was fetched, fetches the signing key again if this
// process signs, and tells the listeners. When the change activated
// wantKid, it asks again until the key service answers with that key: a
// replica of the key service that has not loaded the change yet still
// answers with the key it holds, and this process would otherwise sign
// with a retired (perhaps compromised) key until keyPeerRefresh.
func (p *keyPeer) changed(signs bool, wantKid string) {
	p.mu.Lock()
	p.jwks = nil
	p.fetchedAt = time.Time{}
	listeners := append([]func(){}, p.listeners...)
	p.mu.Unlock()
	if signs {
		p.refetchSigningKey(wantKid)
	}
	for _, fn := range listeners {
		fn()
	}
}

// follow applies the key service's KeyRotated events.
func (p *keyPeer) follow(ctx context.Context, nc *nats.Conn, signs bool) (stop func(), err error) {
	return authn.Follow(ctx, nc, events.SubjectKeys, func(b []byte) { go p.changed(signs, activatedKid(b)) })
}

// activatedKid is the kid a KeyRotated event says became active; "" for
// any other change, or an event that cannot be read.
func activatedKid(b []byte) string {
	var ev eventsv1.KeyRotated
	if proto.Unmarshal(b, &ev) != nil || ev.GetState() != "ACTIVE" {
		return ""
	}
	return ev.GetKid()
}

// ServeHTTP serves the JWKS at the token service's issuer, where its
// metadata's jwks_uri points.
func (p *keyPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := p.JWKS(r.Context())
	if err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "signing keys unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// revokerClient adapts the revocation service's gRPC client to the
// services' Revoker interfaces, which take no call options.
type revokerClient struct {
	c revocationv1.RevocationServiceClient
}

func (r revokerClient) Revoke(ctx context.Context, req *revocationv1.RevokeRequest) (*revocationv1.RevokeResponse, error) {
	return r.c.Revoke(ctx, req)
}

// registryClient adapts the registry's gRPC client to the interfaces of
// its consumers (token.Clients, keys.ClientGetter, authn.ClientGetter).
type registryClient struct {
	c clientsv1.ClientRegistryServiceClient
}

func (g registryClient) GetClient(ctx context.Context, req *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error) {
	return g.c.GetClient(ctx, req)
}

func (g registryClient) VerifyClientSecret(ctx context.Context, req *clientsv1.VerifyClientSecretRequest) (*clientsv1.VerifyClientSecretResponse, error) {
	return g.c.VerifyClientSecret(ctx, req)
}

// refetchSigningKey fetches the signing key, again with a growing pause
// while it is not wantKid (when given), for at most keyChangeWait.
func (p *keyPeer) refetchSigningKey(wantKid string) {
	ctx, cancel := context.WithTimeout(context.Background(), keyChangeWait)
	defer cancel()
	for pause := 20 * time.Millisecond; ; pause = min(2*pause, time.Second) {
		sk, err := p.fetchSigningKey(ctx)
		switch {
		case err == nil && (wantKid == "" || sk.KID == wantKid):
			return
		case err != nil && wantKid == "":
			p.log.Warn("signing key refresh after a key change failed", "error", err)
			return
		}
		select {
		case <-ctx.Done():
			p.log.Warn("the key service did not answer with the newly active signing key", "want_kid", wantKid, "error", err)
			return
		case <-time.After(pause):
		}
	}
}

// keyChangeWait bounds how long a key change is waited for.
const keyChangeWait = 10 * time.Second
