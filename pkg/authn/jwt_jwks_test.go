package authn

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/internal/natsfake"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
)

// TestJWTUnknownKIDRefetch covers SECURITY-CHECKLIST item 5: an unknown
// kid causes exactly one JWKS fetch, then none inside the cooldown; a
// known kid with a bad signature causes none.
func TestJWTUnknownKIDRefetch(t *testing.T) {
	env := newJWTEnv(t)
	ctx := context.Background()
	env.warm(t)
	unknown := func(kid string) string {
		return mint(t, env.keys.es256Other.withKID(kid), validClaims(env.now()))
	}
	wantHits := func(n int) {
		t.Helper()
		if got := env.jwks.Hits(); got != n {
			t.Fatalf("JWKS fetched %d times, want %d", got, n)
		}
	}
	wantHits(1)

	// The warm-up fetch itself starts a cooldown.
	tok := unknown("new-0")
	_, err := env.auth.Authenticate(ctx, tok)
	wantRefusal(t, err, audit.ReasonUnknownKID, tok)
	wantHits(1)

	env.clock.Advance(DefaultUnknownKIDCooldown + time.Second)
	// A known kid with a bad signature never refetches, cooldown or not.
	bad := mint(t, env.keys.es256Other.withKID("es256-1"), validClaims(env.now()))
	_, err = env.auth.Authenticate(ctx, bad)
	wantRefusal(t, err, audit.ReasonBadSignature, bad)
	wantHits(1)

	// The first unknown kid: exactly one refetch, then 401.
	tok = unknown("new-1")
	_, err = env.auth.Authenticate(ctx, tok)
	wantRefusal(t, err, audit.ReasonUnknownKID, tok)
	wantHits(2)

	// A flood inside the cooldown: no fetch, all 401.
	for i := range 50 {
		tok := unknown(fmt.Sprintf("flood-%d", i))
		_, err := env.auth.Authenticate(ctx, tok)
		wantRefusal(t, err, audit.ReasonUnknownKID, tok)
	}
	env.clock.Advance(DefaultUnknownKIDCooldown - 2*time.Second)
	_, err = env.auth.Authenticate(ctx, unknown("flood-late"))
	wantRefusal(t, err, audit.ReasonUnknownKID, "")
	wantHits(2)

	// After the cooldown, one more; and when the JWKS now holds the kid,
	// the token validates.
	env.clock.Advance(2 * time.Second)
	newKey := env.keys.es256Other.withKID("new-2")
	env.jwks.set(jwksDoc(t, jwkOf(t, env.keys.es256), jwkOf(t, newKey)))
	if _, err := env.auth.Authenticate(ctx, mint(t, newKey, validClaims(env.now()))); err != nil {
		t.Fatalf("token of a newly published kid refused: %v", err)
	}
	wantHits(3)
}

// TestJWTConcurrentMissesShareOneFetch: requests with an unknown kid that
// arrive while a fetch runs wait for it instead of starting their own.
func TestJWTConcurrentMissesShareOneFetch(t *testing.T) {
	env := newJWTEnv(t)
	env.warm(t)
	env.clock.Advance(DefaultUnknownKIDCooldown + time.Second)
	newKey := env.keys.es256Other.withKID("new-1")
	env.jwks.set(jwksDoc(t, jwkOf(t, env.keys.es256), jwkOf(t, newKey)))
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	env.jwks.mu.Lock()
	env.jwks.gate, env.jwks.entered = gate, entered
	env.jwks.mu.Unlock()
	const n = 16
	joined := make(chan struct{}, n)
	env.auth.onJoin = func() { joined <- struct{}{} }

	tok := mint(t, newKey, validClaims(env.now()))
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := env.auth.Authenticate(context.Background(), tok)
			errs <- err
		})
	}
	<-entered // the one fetch reached the server
	for range n - 1 {
		<-joined // every other request waits for it
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
	}
	if got := env.jwks.Hits(); got != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", got)
	}
}

// TestJWTKeySourcePinned covers SECURITY-CHECKLIST items 6 and 21: no
// header or claim makes the validator connect anywhere but the configured
// JWKS URL.
func TestJWTKeySourcePinned(t *testing.T) {
	attacker := newCountingServer(t)
	env := newJWTEnv(t)
	env.warm(t)
	// Past the cooldown, so that an unknown kid could refetch: it may
	// only reach the configured JWKS.
	env.clock.Advance(DefaultUnknownKIDCooldown + time.Second)
	evil := env.keys.es256Other
	url := attacker.srv.URL + "/jwks.json"
	claims := validClaims(env.now())
	certB64 := base64.StdEncoding.EncodeToString(selfSignedCert(t, evil))
	tokens := map[string]string{
		"jku, attacker's kid":       mint(t, evil.withKID("attacker-1"), claims, "jku", url),
		"jku, our kid":              mint(t, evil.withKID("es256-1"), claims, "jku", url),
		"x5u":                       mint(t, evil.withKID("attacker-2"), claims, "x5u", url),
		"kid is the attacker's URL": mint(t, evil.withKID(url), claims, "jku", url),
		"embedded jwk":              signed(t, evil, headerJSON(t, evil, "jwk", jwkOf(t, evil)), claimsJSON(t, claims)),
		"embedded x5c":              signed(t, evil.withKID("attacker-3"), headerJSON(t, evil.withKID("attacker-3"), "x5c", []string{certB64}), claimsJSON(t, claims)),
		"iss of the attacker":       mint(t, evil.withKID("attacker-4"), claims.with("iss", attacker.srv.URL), "jku", url),
	}
	for name, tok := range tokens {
		t.Run(name, func(t *testing.T) {
			_, err := env.auth.Authenticate(context.Background(), tok)
			wantRefusal(t, err, "", tok)
		})
	}
	if c, r := attacker.conns.Load(), attacker.reqs.Load(); c != 0 || r != 0 {
		t.Fatalf("attacker listener got %d connections, %d requests; want 0", c, r)
	}
	if got := env.jwks.Hits(); got > 2 {
		t.Fatalf("JWKS fetched %d times, want at most 2", got)
	}
}

// rotationEnv publishes K1 and has a token of it validated and cached.
type rotationEnv struct {
	clock  *fakeClock
	jwks   *jwksServer
	auth   *JWTAuthenticator
	k1, k2 *testKey
	t1     string
}

func newRotationEnv(t *testing.T) *rotationEnv {
	t.Helper()
	ks := theKeys(t)
	r := &rotationEnv{clock: newFakeClock(), k1: ks.es256, k2: ks.es256Other.withKID("es256-2")}
	r.jwks = newJWKSServer(t, jwksDoc(t, jwkOf(t, r.k1)))
	r.auth = newTestJWTAuth(t, NewHTTPJWKSSource(r.jwks.URL()), r.clock)
	r.t1 = mint(t, r.k1, validClaims(r.clock.Now()).with("exp", r.clock.Now().Add(time.Hour).Unix()))
	r.mustAccept(t, r.t1)
	return r
}

func (r *rotationEnv) mustAccept(t *testing.T, tok string) {
	t.Helper()
	if _, err := r.auth.Authenticate(context.Background(), tok); err != nil {
		t.Fatalf("refused: %v", err)
	}
}

// rotate publishes K2, signs with it, then retires K1 from the JWKS
// (without telling the authenticator). It returns a K2 token.
func (r *rotationEnv) rotate(t *testing.T) string {
	t.Helper()
	// Publish K2 without using it; K1 tokens keep validating.
	r.jwks.set(jwksDoc(t, jwkOf(t, r.k1), jwkOf(t, r.k2)))
	r.clock.Advance(DefaultUnknownKIDCooldown + time.Second)
	r.mustAccept(t, r.t1)
	// Switch signing to K2: the first K2 token costs at most one fetch.
	hits := r.jwks.Hits()
	t2 := mint(t, r.k2, validClaims(r.clock.Now()))
	r.mustAccept(t, t2)
	if got := r.jwks.Hits() - hits; got > 1 {
		t.Fatalf("first K2 token caused %d fetches", got)
	}
	// K1 tokens keep validating while K1 is published (the cache was
	// emptied when the set changed: this one is checked again).
	if r.auth.cache.len() != 1 {
		t.Fatalf("token cache holds %d entries after the key set changed, want 1 (the K2 token)", r.auth.cache.len())
	}
	r.mustAccept(t, r.t1)
	// Retire K1. Until the authenticator learns it, the K1 token (cached)
	// still passes.
	r.jwks.set(jwksDoc(t, jwkOf(t, r.k2)))
	r.mustAccept(t, r.t1)
	return t2
}

// TestJWTRotation covers SECURITY-CHECKLIST item 19 at the validator:
// every way the authenticator learns of a removed key stops its tokens,
// cached ones included.
func TestJWTRotation(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// learn tells the authenticator that K1 is gone.
		learn func(t *testing.T, r *rotationEnv)
	}{
		{name: "Refresh", learn: func(t *testing.T, r *rotationEnv) {
			if err := r.auth.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "KeyRotated event", learn: func(_ *testing.T, r *rotationEnv) {
			r.auth.applyKeyRotated(ctx, mustMarshal(&eventsv1.KeyRotated{Kid: r.k1.kid, State: "RETIRED", JwksVersion: 7}))
		}},
		{name: "KeyRotated REMOVED while the JWKS is down", learn: func(_ *testing.T, r *rotationEnv) {
			r.jwks.setFail("500")
			r.auth.applyKeyRotated(ctx, mustMarshal(&eventsv1.KeyRotated{Kid: r.k1.kid, State: "REMOVED", JwksVersion: 8}))
		}},
		{name: "undecodable event", learn: func(_ *testing.T, r *rotationEnv) {
			r.auth.applyKeyRotated(ctx, []byte{0xff, 0xff})
		}},
		{name: "InvalidateAll", learn: func(_ *testing.T, r *rotationEnv) { r.auth.InvalidateAll() }},
		{name: "max age", learn: func(_ *testing.T, r *rotationEnv) { r.clock.Advance(DefaultJWKSMaxAge) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRotationEnv(t)
			t2 := r.rotate(t)
			tt.learn(t, r)
			_, err := r.auth.Authenticate(ctx, r.t1)
			wantRefusal(t, err, audit.ReasonUnknownKID, r.t1)
			r.mustAccept(t, t2)
		})
	}
}

// TestJWTFollowKeyRotations runs KeyRotated over NATS (the fake server).
func TestJWTFollowKeyRotations(t *testing.T) {
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

	r := newRotationEnv(t)
	t2 := r.rotate(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, err := r.auth.FollowKeyRotations(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	hits := r.jwks.Hits()
	if err := pub.Publish(KeysSubject, mustMarshal(&eventsv1.KeyRotated{Kid: r.k1.kid, State: "REMOVED"})); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return r.jwks.Hits() > hits })
	waitFor(t, func() bool {
		_, err := r.auth.Authenticate(context.Background(), r.t1)
		return err != nil
	})
	r.mustAccept(t, t2)

	stop()
	stop() // idempotent
	if _, err := r.auth.FollowKeyRotations(ctx, nil); err == nil {
		t.Fatal("nil connection accepted")
	}
}

// TestJWTJWKSOutage covers SECURITY-CHECKLIST item 20: whatever the JWKS
// endpoint does, tokens of cached kids keep validating and an unknown kid
// gets 401, never 5xx; failed fetches are retried once per cooldown.
func TestJWTJWKSOutage(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// fail breaks the source.
		fail func(t *testing.T, s *jwksServer)
	}{
		{name: "500", fail: func(_ *testing.T, s *jwksServer) { s.setFail("500") }},
		{name: "timeout", fail: func(_ *testing.T, s *jwksServer) { s.setFail("hang") }},
		{name: "body over 1 MiB by Content-Length", fail: func(_ *testing.T, s *jwksServer) { s.setFail("huge") }},
		{name: "body over 1 MiB streamed", fail: func(_ *testing.T, s *jwksServer) { s.setFail("huge-chunked") }},
		{name: "bad JSON", fail: func(_ *testing.T, s *jwksServer) { s.setFail("badjson") }},
		{name: "redirect", fail: func(_ *testing.T, s *jwksServer) { s.setFail("redirect") }},
		{name: "only weak keys", fail: func(t *testing.T, s *jwksServer) { s.set(jwksDoc(t, jwkOf(t, theKeys(t).rsa1024))) }},
		{name: "no keys", fail: func(t *testing.T, s *jwksServer) { s.set(jwksDoc(t)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks := theKeys(t)
			clk := newFakeClock()
			good := standardJWKS(t, ks)
			jwks := newJWKSServer(t, good)
			// No token cache: every token is checked against the keys.
			a := newTestJWTAuth(t, NewHTTPJWKSSource(jwks.URL(), WithJWKSFetchTimeout(100*time.Millisecond)), clk, WithTokenCache(0))
			valid := func() string { return mint(t, ks.eddsa, validClaims(clk.Now())) }
			mustAccept := func() {
				t.Helper()
				if _, err := a.Authenticate(ctx, valid()); err != nil {
					t.Fatalf("token of a cached kid refused: %v", err)
				}
			}
			wantHits := func(n int) {
				t.Helper()
				if got := jwks.Hits(); got != n {
					t.Fatalf("JWKS fetched %d times, want %d", got, n)
				}
			}
			unknownKID := func() {
				t.Helper()
				tok := mint(t, ks.es256Other.withKID("unknown"), validClaims(clk.Now()))
				_, err := a.Authenticate(ctx, tok)
				wantRefusal(t, err, audit.ReasonUnknownKID, tok)
			}
			mustAccept()
			wantHits(1)

			tt.fail(t, jwks)
			clk.Advance(DefaultJWKSMaxAge) // the keys are now stale
			mustAccept()                   // one failed fetch, cached keys used
			wantHits(2)
			mustAccept() // no retry inside the cooldown
			unknownKID()
			wantHits(2)

			clk.Advance(DefaultUnknownKIDCooldown)
			unknownKID() // one retry (stale keys), still failing
			mustAccept()
			wantHits(3)

			// The endpoint recovers: the next retry installs the keys.
			jwks.setFail("")
			jwks.set(good)
			clk.Advance(DefaultUnknownKIDCooldown)
			mustAccept()
			wantHits(4)
			mustAccept()
			wantHits(4)
		})
	}
}

// TestJWTSourceTimeout: a JWKSFunc that never answers is cut off by the
// authenticator's own fetch timeout.
func TestJWTSourceTimeout(t *testing.T) {
	ks := theKeys(t)
	clk := newFakeClock()
	var hang atomic.Bool
	good := standardJWKS(t, ks)
	src := JWKSFunc(func(ctx context.Context) ([]byte, error) {
		if hang.Load() {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return good, nil
	})
	a := newTestJWTAuth(t, src, clk)
	a.fetchTimeout = 50 * time.Millisecond
	if _, err := a.Authenticate(context.Background(), mint(t, ks.es256, validClaims(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	hang.Store(true)
	err := a.Refresh(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Refresh error %v, want the fetch deadline", err)
	}
	if _, err := a.Authenticate(context.Background(), mint(t, ks.es256, validClaims(clk.Now()))); err != nil {
		t.Fatalf("cached kid refused after a timed-out fetch: %v", err)
	}
}

// TestJWTNoKeysYet: with no key set at all, requests get Unavailable (the
// validator cannot judge the token), and the source is retried once per
// cooldown.
func TestJWTNoKeysYet(t *testing.T) {
	ks := theKeys(t)
	clk := newFakeClock()
	var (
		calls atomic.Int64
		up    atomic.Bool
	)
	good := standardJWKS(t, ks)
	src := JWKSFunc(func(context.Context) ([]byte, error) {
		calls.Add(1)
		if !up.Load() {
			return nil, errOutage
		}
		return good, nil
	})
	a := newTestJWTAuth(t, src, clk)
	tok := func() string { return mint(t, ks.es256, validClaims(clk.Now())) }
	wantUnavailable := func() {
		t.Helper()
		_, err := a.Authenticate(context.Background(), tok())
		if ae := asAuthError(err); ae.Code != codes.Unavailable {
			t.Fatalf("got %v, want Unavailable", err)
		}
	}
	wantUnavailable()
	wantUnavailable()
	if calls.Load() != 1 {
		t.Fatalf("source called %d times, want 1", calls.Load())
	}
	clk.Advance(DefaultUnknownKIDCooldown)
	wantUnavailable()
	if calls.Load() != 2 {
		t.Fatalf("source called %d times, want 2", calls.Load())
	}
	up.Store(true)
	if err := a.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(context.Background(), tok()); err != nil {
		t.Fatal(err)
	}
}

func TestJWTMaxAge(t *testing.T) {
	env := newJWTEnv(t)
	env.warm(t) // at t0; the keys are fresh until t0+max age
	for _, step := range []struct {
		advance  time.Duration
		wantHits int
	}{
		{DefaultJWKSMaxAge - time.Second, 1},
		{time.Second, 2},
		{time.Second, 2},
		{DefaultJWKSMaxAge - 2*time.Second, 2},
		{time.Second, 3},
	} {
		env.clock.Advance(step.advance)
		tok := mint(t, env.keys.es256, validClaims(env.now()))
		if _, err := env.auth.Authenticate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		if got := env.jwks.Hits(); got != step.wantHits {
			t.Fatalf("after +%v: %d fetches, want %d", step.advance, got, step.wantHits)
		}
	}
}

func TestJWTRefreshQueuesBehindRunningFetch(t *testing.T) {
	env := newJWTEnv(t)
	env.warm(t)
	gate, entered := make(chan struct{}), make(chan struct{}, 2)
	env.jwks.mu.Lock()
	env.jwks.gate, env.jwks.entered = gate, entered
	env.jwks.mu.Unlock()

	errs := make(chan error, 2)
	go func() { errs <- env.auth.Refresh(context.Background()) }()
	<-entered
	go func() { errs <- env.auth.Refresh(context.Background()) }()
	waitFor(t, func() bool {
		env.auth.mu.Lock()
		defer env.auth.mu.Unlock()
		return env.auth.queued != nil
	})
	// A caller that gives up does not stop the fetch.
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := env.auth.Refresh(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Refresh returned %v", err)
	}
	close(gate)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The warm-up, the running fetch, and one queued fetch shared by the
	// second Refresh and the canceled one.
	waitFor(t, func() bool {
		env.auth.mu.Lock()
		defer env.auth.mu.Unlock()
		return env.auth.inflight == nil
	})
	if got := env.jwks.Hits(); got != 3 {
		t.Fatalf("JWKS fetched %d times, want 3", got)
	}
}

// TestJWTConcurrentUse runs requests while the key set changes, under
// -race.
func TestJWTConcurrentUse(t *testing.T) {
	env := newJWTEnv(t, WithTokenCache(8))
	env.warm(t)
	ks := env.keys
	tokens := []string{
		mint(t, ks.es256, validClaims(env.now())),
		mint(t, ks.eddsa, validClaims(env.now())),
		mint(t, ks.rs256, validClaims(env.now()).with("jti", "j2")),
		mint(t, ks.ps256, validClaims(env.now()).with("jti", "j3")),
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 8 {
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				tok := tokens[(i+j)%len(tokens)]
				if _, err := env.auth.Authenticate(context.Background(), tok); err != nil {
					var ae *AuthError
					if !errors.As(err, &ae) || ae.Code != codes.Unauthenticated {
						t.Errorf("unexpected error %v", err)
						return
					}
				}
			}
		})
	}
	for i := range 20 {
		switch i % 4 {
		case 0:
			_ = env.auth.Refresh(context.Background())
		case 1:
			env.auth.InvalidateAll()
		case 2:
			env.auth.applyKeyRotated(context.Background(), mustMarshal(&eventsv1.KeyRotated{Kid: "eddsa-1", State: "REMOVED"}))
		case 3:
			env.clock.Advance(time.Second)
		}
	}
	close(stop)
	wg.Wait()
}

func TestHTTPJWKSSourceURL(t *testing.T) {
	tests := []struct {
		url     string
		opts    []HTTPJWKSOption
		wantErr bool
	}{
		{url: "https://keys.example/.well-known/jwks.json"},
		{url: "http://127.0.0.1:8080/jwks"},
		{url: "http://localhost/jwks"},
		{url: "http://[::1]:9/jwks"},
		{url: "http://keys.example/jwks", wantErr: true},
		{url: "http://keys.example/jwks", opts: []HTTPJWKSOption{WithJWKSInsecureHTTP()}},
		{url: "ftp://keys.example/jwks", wantErr: true},
		{url: "/jwks", wantErr: true},
		{url: "https://user:pw@keys.example/jwks", wantErr: true},
		{url: "https://keys.example/jwks#x", wantErr: true},
		{url: "https://keys example/jwks", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			s := NewHTTPJWKSSource(tt.url, tt.opts...)
			if (s.Err() != nil) != tt.wantErr {
				t.Fatalf("Err() = %v, wantErr %v", s.Err(), tt.wantErr)
			}
			if tt.wantErr {
				if _, err := s.JWKS(context.Background()); err == nil {
					t.Fatal("fetch of a refused URL succeeded")
				}
			}
		})
	}
}

func TestHTTPJWKSSourceFetch(t *testing.T) {
	body := jwksDoc(t, jwkOf(t, theKeys(t).es256))
	exact := []byte(`{"keys":[]}` + strings.Repeat(" ", MaxJWKSBytes-len(`{"keys":[]}`)))
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    []byte
		wantErr string
	}{
		{name: "200", handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }, want: body},
		{name: "exactly 1 MiB", handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(exact) }, want: exact},
		{name: "1 MiB and a byte", handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(append(exact, ' ')) }, wantErr: "exceeds"},
		{name: "Content-Length over 1 MiB", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(MaxJWKSBytes+1))
			_, _ = w.Write([]byte("{"))
		}, wantErr: "exceeds"},
		{name: "500", handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "x", 500) }, wantErr: "status 500"},
		{name: "204", handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }, wantErr: "status 204"},
		{name: "redirect not followed", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://attacker.example/jwks", http.StatusFound)
		}, wantErr: "status 302"},
		{name: "timeout", handler: func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, wantErr: "deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.Store(r.Method + " " + r.URL.Path)
				tt.handler(w, r)
			}))
			defer srv.Close()
			s := NewHTTPJWKSSource(srv.URL+"/jwks", WithJWKSFetchTimeout(100*time.Millisecond))
			b, err := s.JWKS(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if b != nil {
					t.Fatal("a failed fetch returned a body")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != string(tt.want) {
				t.Fatalf("body of %d bytes, want %d", len(b), len(tt.want))
			}
			if got.Load() != "GET /jwks" {
				t.Fatalf("request %v", got.Load())
			}
		})
	}
}

func TestHTTPJWKSSourceKeepsCallerClient(t *testing.T) {
	called := false
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { called = true; return nil }}
	s := NewHTTPJWKSSource("https://keys.example/jwks", WithJWKSHTTPClient(c))
	if s.client == c || s.client.CheckRedirect == nil {
		t.Fatal("the caller's client was used as is")
	}
	if err := c.CheckRedirect(nil, nil); err != nil || !called {
		t.Fatal("the caller's client was changed")
	}
}

// TestJWTInvalidateAllDuringFetch: a request after InvalidateAll waits for
// a fetch that starts after it, not for one already running.
func TestJWTInvalidateAllDuringFetch(t *testing.T) {
	env := newJWTEnv(t)
	env.warm(t)
	gate, entered := make(chan struct{}), make(chan struct{}, 2)
	env.jwks.mu.Lock()
	env.jwks.gate, env.jwks.entered = gate, entered
	env.jwks.mu.Unlock()
	refreshed := make(chan error, 1)
	go func() { refreshed <- env.auth.Refresh(context.Background()) }()
	<-entered
	env.auth.InvalidateAll()
	// The key set loses eddsa-1 in the JWKS served from now on.
	env.jwks.set(jwksDoc(t, jwkOf(t, env.keys.es256)))
	tok := mint(t, env.keys.eddsa, validClaims(env.now()))
	authenticated := make(chan error, 1)
	go func() {
		_, err := env.auth.Authenticate(context.Background(), tok)
		authenticated <- err
	}()
	waitFor(t, func() bool {
		env.auth.mu.Lock()
		defer env.auth.mu.Unlock()
		return env.auth.queued != nil
	})
	close(gate)
	if err := <-refreshed; err != nil {
		t.Fatal(err)
	}
	// The running fetch still served eddsa-1, the queued one did not.
	wantRefusal(t, <-authenticated, audit.ReasonUnknownKID, tok)
	if got := env.jwks.Hits(); got != 3 {
		t.Fatalf("JWKS fetched %d times, want 3", got)
	}
}

// TestJWTSourceIgnoringContext: a source that never returns is abandoned
// at the fetch timeout; it does not block later fetches.
func TestJWTSourceIgnoringContext(t *testing.T) {
	ks := theKeys(t)
	clk := newFakeClock()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var (
		stuck atomic.Bool
		calls atomic.Int64
	)
	good := standardJWKS(t, ks)
	src := JWKSFunc(func(context.Context) ([]byte, error) {
		calls.Add(1)
		if stuck.Load() {
			<-release
		}
		return good, nil
	})
	a := newTestJWTAuth(t, src, clk)
	a.fetchTimeout = 20 * time.Millisecond
	tok := mint(t, ks.es256, validClaims(clk.Now()))
	if _, err := a.Authenticate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	stuck.Store(true)
	for range 2 {
		if err := a.Refresh(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Refresh error %v, want the fetch deadline", err)
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("source called %d times, want 3", calls.Load())
	}
	if _, err := a.Authenticate(context.Background(), tok); err != nil {
		t.Fatalf("cached kid refused: %v", err)
	}
}
