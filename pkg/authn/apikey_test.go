package authn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

func TestAPIKeyPrincipal(t *testing.T) {
	f := newFakeVerifier()
	raw, id := f.add(t, accepted("client-p", clientsv1.RateLimitTier_RATE_LIMIT_TIER_HIGH, "a", "b"))
	a := NewAPIKeyAuthenticator(f)
	p, err := a.Authenticate(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	want := Principal{Subject: "client-p", ClientID: "client-p", Kind: a.Kind(), Scopes: []string{"a", "b"}, Trust: TrustAPIKey, KeyID: id, RateLimitTier: ratelimit.TierHigh}
	if fmt.Sprint(*p) != fmt.Sprint(want) {
		t.Fatalf("principal = %+v, want %+v", *p, want)
	}
	if !p.HasScope("b") || p.HasScope("c") {
		t.Fatal("HasScope wrong")
	}
}

func TestTierName(t *testing.T) {
	tests := []struct {
		tier clientsv1.RateLimitTier
		want string
	}{
		{clientsv1.RateLimitTier_RATE_LIMIT_TIER_UNSPECIFIED, ""},
		{clientsv1.RateLimitTier_RATE_LIMIT_TIER_STANDARD, "standard"},
		{clientsv1.RateLimitTier_RATE_LIMIT_TIER_HIGH, "high"},
		{clientsv1.RateLimitTier_RATE_LIMIT_TIER_LOW, "low"},
		{clientsv1.RateLimitTier_RATE_LIMIT_TIER_INTERNAL, "internal"},
		{clientsv1.RateLimitTier(99), ""},
	}
	for _, tt := range tests {
		t.Run(tt.tier.String(), func(t *testing.T) {
			if got := tierName(tt.tier); got != tt.want {
				t.Fatalf("tierName = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAPIKeyCache(t *testing.T) {
	tests := []struct {
		name string
		opts []APIKeyOption
		// resp builds the verifier's answer at the clock's start.
		resp func(now time.Time) *clientsv1.VerifyAPIKeyResponse
		// steps: advance the clock, then authenticate; want the running
		// total of verifier calls after each.
		steps []struct {
			advance   time.Duration
			wantCalls int
		}
	}{
		{
			name: "hit within the TTL avoids the verifier",
			resp: func(time.Time) *clientsv1.VerifyAPIKeyResponse { return accepted("c", 0, "s") },
			steps: []struct {
				advance   time.Duration
				wantCalls int
			}{{0, 1}, {0, 1}, {29 * time.Second, 1}},
		},
		{
			name: "default TTL is 30s",
			resp: func(time.Time) *clientsv1.VerifyAPIKeyResponse { return accepted("c", 0, "s") },
			steps: []struct {
				advance   time.Duration
				wantCalls int
			}{{0, 1}, {30 * time.Second, 2}, {29 * time.Second, 2}, {time.Second, 3}},
		},
		{
			name: "custom TTL",
			opts: []APIKeyOption{WithCacheTTL(5 * time.Second)},
			resp: func(time.Time) *clientsv1.VerifyAPIKeyResponse { return accepted("c", 0, "s") },
			steps: []struct {
				advance   time.Duration
				wantCalls int
			}{{0, 1}, {4 * time.Second, 1}, {time.Second, 2}},
		},
		{
			name: "never cached past expire_time",
			resp: func(now time.Time) *clientsv1.VerifyAPIKeyResponse {
				return acceptedUntil("c", now.Add(10*time.Second), "s")
			},
			steps: []struct {
				advance   time.Duration
				wantCalls int
			}{{0, 1}, {9 * time.Second, 1}, {time.Second, 2}},
		},
		{
			name: "already expired by our clock is not cached",
			resp: func(now time.Time) *clientsv1.VerifyAPIKeyResponse {
				return acceptedUntil("c", now.Add(-time.Second), "s")
			},
			steps: []struct {
				advance   time.Duration
				wantCalls int
			}{{0, 1}, {0, 2}},
		},
		{
			name: "cache disabled by TTL 0",
			opts: []APIKeyOption{WithCacheTTL(0)},
			resp: func(time.Time) *clientsv1.VerifyAPIKeyResponse { return accepted("c", 0, "s") },
			steps: []struct {
				advance   time.Duration
				wantCalls int
			}{{0, 1}, {0, 2}},
		},
		{
			name: "refusals are not cached",
			resp: func(time.Time) *clientsv1.VerifyAPIKeyResponse {
				return refused("c", clientsv1.APIKeyFailure_API_KEY_FAILURE_REVOKED)
			},
			steps: []struct {
				advance   time.Duration
				wantCalls int
			}{{0, 1}, {0, 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			f := newFakeVerifier()
			raw, _ := f.add(t, tt.resp(clk.Now()))
			a := NewAPIKeyAuthenticator(f, append([]APIKeyOption{WithCacheClock(clk.Now)}, tt.opts...)...)
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				_, _ = a.Authenticate(context.Background(), raw)
				if got := f.Calls(); got != s.wantCalls {
					t.Fatalf("step %d: verifier calls = %d, want %d", i, got, s.wantCalls)
				}
			}
		})
	}
}

func TestAPIKeyCacheStoresNoRawKey(t *testing.T) {
	f := newFakeVerifier()
	raw, _ := f.add(t, accepted("c", 0, "s"))
	a := NewAPIKeyAuthenticator(f)
	if _, err := a.Authenticate(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%+v %+v %+v", a.entries, a.byClient, a.byKey); containsString(got, raw) {
		t.Fatal("the cache holds the raw key")
	}
	for _, e := range a.entries {
		if containsString(fmt.Sprintf("%+v", *e.p), raw) {
			t.Fatal("the principal holds the raw key")
		}
	}
}

func containsString(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (func() bool {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
		return false
	})()
}

func TestInvalidate(t *testing.T) {
	tests := []struct {
		name string
		// invalidate runs against keys a1, a2 (client-a) and b1 (client-b).
		invalidate func(a *APIKeyAuthenticator, ids map[string]string)
		// reverified lists the keys that must reach the verifier again.
		reverified []string
	}{
		{name: "client drops all its keys", invalidate: func(a *APIKeyAuthenticator, _ map[string]string) { a.InvalidateClient("client-a") }, reverified: []string{"a1", "a2"}},
		{name: "key drops only that key", invalidate: func(a *APIKeyAuthenticator, ids map[string]string) { a.InvalidateKey(ids["a2"]) }, reverified: []string{"a2"}},
		{name: "unknown client drops nothing", invalidate: func(a *APIKeyAuthenticator, _ map[string]string) { a.InvalidateClient("nobody") }},
		{name: "all", invalidate: func(a *APIKeyAuthenticator, _ map[string]string) { a.InvalidateAll() }, reverified: []string{"a1", "a2", "b1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
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
			tt.invalidate(a, ids)
			if got, want := a.cacheLen(), 3-len(tt.reverified); got != want {
				t.Fatalf("cache holds %d keys, want %d", got, want)
			}
			for name, raw := range raws {
				before := f.calls[raw]
				if _, err := a.Authenticate(context.Background(), raw); err != nil {
					t.Fatal(err)
				}
				want := before
				for _, r := range tt.reverified {
					if r == name {
						want++
					}
				}
				if f.calls[raw] != want {
					t.Errorf("key %s: verifier calls %d, want %d", name, f.calls[raw], want)
				}
			}
			if len(a.byClient) != 2 || len(a.byKey) != 3 {
				t.Errorf("indexes hold %d clients, %d keys after refill", len(a.byClient), len(a.byKey))
			}
		})
	}
}

func TestCacheBounded(t *testing.T) {
	f := newFakeVerifier()
	a := NewAPIKeyAuthenticator(f, WithCacheMaxEntries(50))
	for i := range 500 {
		raw, _ := f.add(t, accepted(fmt.Sprint("client-", i%7), 0, "s"))
		if _, err := a.Authenticate(context.Background(), raw); err != nil {
			t.Fatal(err)
		}
		if n := a.cacheLen(); n > 50 {
			t.Fatalf("cache holds %d entries, max 50", n)
		}
	}
	// Indexes shrink with the entries.
	keys := 0
	for _, set := range a.byKey {
		keys += len(set)
	}
	if keys != a.cacheLen() {
		t.Fatalf("key index holds %d, cache %d", keys, a.cacheLen())
	}
}

func TestExpiredEntriesEvictedFirst(t *testing.T) {
	clk := newFakeClock()
	f := newFakeVerifier()
	a := NewAPIKeyAuthenticator(f, WithCacheMaxEntries(3), WithCacheClock(clk.Now))
	short, _ := f.add(t, acceptedUntil("c", clk.Now().Add(time.Second), "s"))
	var long []string
	for range 2 {
		raw, _ := f.add(t, accepted("c", 0, "s"))
		long = append(long, raw)
	}
	for _, raw := range append([]string{short}, long...) {
		if _, err := a.Authenticate(context.Background(), raw); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(2 * time.Second)
	extra, _ := f.add(t, accepted("c", 0, "s"))
	if _, err := a.Authenticate(context.Background(), extra); err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	for _, raw := range long {
		if _, err := a.Authenticate(context.Background(), raw); err != nil {
			t.Fatal(err)
		}
	}
	if f.Calls() != calls {
		t.Fatal("a live entry was evicted while an expired one could go")
	}
}

func TestAPIKeyErrors(t *testing.T) {
	tests := []struct {
		name       string
		resp       *clientsv1.VerifyAPIKeyResponse
		err        error
		wantCode   codes.Code
		wantReason audit.Reason
		wantClient string
	}{
		{name: "unknown", resp: refused("", clientsv1.APIKeyFailure_API_KEY_FAILURE_UNKNOWN), wantCode: codes.Unauthenticated, wantReason: audit.ReasonUnknownAPIKey},
		{name: "future failure value", resp: refused("c", 77), wantCode: codes.Unauthenticated, wantReason: audit.ReasonUnknownAPIKey, wantClient: "c"},
		{name: "revoked", resp: refused("c", clientsv1.APIKeyFailure_API_KEY_FAILURE_REVOKED), wantCode: codes.Unauthenticated, wantReason: audit.ReasonRevokedAPIKey, wantClient: "c"},
		{name: "accepted without client", resp: accepted("", 0, "s"), wantCode: codes.Unavailable, wantReason: audit.ReasonVerifierUnavailable},
		{name: "outage", err: errOutage, wantCode: codes.Unavailable, wantReason: audit.ReasonVerifierUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeVerifier()
			raw := unregisteredKey(t)
			if tt.resp != nil {
				raw, _ = f.add(t, tt.resp)
			}
			f.setErr(tt.err)
			_, err := NewAPIKeyAuthenticator(f).Authenticate(context.Background(), raw)
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *AuthError", err)
			}
			if ae.Code != tt.wantCode || ae.Reason != tt.wantReason || ae.ClientID != tt.wantClient {
				t.Fatalf("got %v/%s/%q, want %v/%s/%q", ae.Code, ae.Reason, ae.ClientID, tt.wantCode, tt.wantReason, tt.wantClient)
			}
			if tt.err != nil && !errors.Is(err, errOutage) {
				t.Fatal("cause not wrapped")
			}
		})
	}
}

func TestConcurrentMissesShareOneCall(t *testing.T) {
	f := newFakeVerifier()
	f.gate = make(chan struct{})
	f.entered = make(chan struct{}, 10)
	raw, _ := f.add(t, accepted("c", 0, "s"))
	a := NewAPIKeyAuthenticator(f)
	const followers = 5
	waiting := make(chan struct{}, followers)
	a.onWait = func() { waiting <- struct{}{} }

	var wg sync.WaitGroup
	results := make(chan error, followers+1)
	run := func() {
		defer wg.Done()
		p, err := a.Authenticate(context.Background(), raw)
		if err == nil && p.ClientID != "c" {
			err = errors.New("wrong principal")
		}
		results <- err
	}
	wg.Add(1)
	go run()
	<-f.entered // the leader is inside the verifier
	for range followers {
		wg.Add(1)
		go run()
	}
	for range followers {
		<-waiting
	}
	close(f.gate)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.Calls(); n != 1 {
		t.Fatalf("verifier calls = %d, want 1", n)
	}
}

func TestFollowerRetriesWhenLeaderIsCanceled(t *testing.T) {
	f := newFakeVerifier()
	f.gate = make(chan struct{})
	f.entered = make(chan struct{}, 10)
	raw, _ := f.add(t, accepted("c", 0, "s"))
	a := NewAPIKeyAuthenticator(f)
	waiting := make(chan struct{}, 1)
	a.onWait = func() { waiting <- struct{}{} }

	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(leaderCtx, raw)
		leaderErr <- err
	}()
	<-f.entered
	followerErr := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(context.Background(), raw)
		followerErr <- err
	}()
	<-waiting
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v", err)
	}
	<-f.entered // the follower asks the verifier itself
	close(f.gate)
	if err := <-followerErr; err != nil {
		t.Fatalf("follower: %v", err)
	}
}

func TestInvalidationDuringVerificationIsNotUndone(t *testing.T) {
	f := newFakeVerifier()
	f.gate = make(chan struct{})
	f.entered = make(chan struct{}, 10)
	raw, _ := f.add(t, accepted("client-a", 0, "s"))
	a := NewAPIKeyAuthenticator(f)
	done := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(context.Background(), raw)
		done <- err
	}()
	<-f.entered
	a.InvalidateClient("client-a") // e.g. the key was revoked meanwhile
	close(f.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a.cacheLen() != 0 {
		t.Fatal("an answer older than the invalidation was cached")
	}
}

// fakeRegistryClient is a ClientRegistryServiceClient whose VerifyAPIKey
// goes to a verifier.
type fakeRegistryClient struct {
	clientsv1.ClientRegistryServiceClient
	v APIKeyVerifier
}

func (c fakeRegistryClient) VerifyAPIKey(ctx context.Context, in *clientsv1.VerifyAPIKeyRequest, _ ...grpc.CallOption) (*clientsv1.VerifyAPIKeyResponse, error) {
	return c.v.VerifyAPIKey(ctx, in)
}

func TestVerifierFromClient(t *testing.T) {
	f := newFakeVerifier()
	raw, _ := f.add(t, accepted("c", 0, "s"))
	a := NewAPIKeyAuthenticator(VerifierFromClient(fakeRegistryClient{v: f}))
	p, err := a.Authenticate(context.Background(), raw)
	if err != nil || p.ClientID != "c" {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
}

// fullKnown is an authenticator whose known key ids are full, all accepted
// at t0, on a clock the test moves.
func fullKnown(t0 time.Time) (*APIKeyAuthenticator, *time.Time) {
	now := t0
	a := NewAPIKeyAuthenticator(nil, WithCacheClock(func() time.Time { return now }))
	for i := range maxKnown {
		a.known[fmt.Sprintf("k%d", i)] = t0.Add(knownFor)
	}
	return a, &now
}

// With the known key ids full, a new id is not remembered until one of
// them expires, and it is remembered then; between the two, remembering
// does not scan the full map again for each new key.
func TestKnownKeyIDsFull(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, now := fullKnown(t0)
	*now = t0.Add(time.Hour)
	a.rememberLocked("new1")
	if _, ok := a.known["new1"]; ok || len(a.known) != maxKnown {
		t.Fatalf("full: new1 remembered (%d known)", len(a.known))
	}
	if !a.knownSweep.Equal(t0.Add(knownFor)) {
		t.Fatalf("next sweep at %v, want when the earliest expires, %v", a.knownSweep, t0.Add(knownFor))
	}
	// A sweep now would find nothing: none is made (a planted expired
	// entry stays until the next one).
	a.known["k0"] = t0
	a.rememberLocked("new2")
	if _, ok := a.known["k0"]; !ok {
		t.Fatal("swept again before anything could expire")
	}
	*now = t0.Add(knownFor)
	a.rememberLocked("new3")
	if _, ok := a.known["new3"]; !ok || len(a.known) != 1 {
		t.Fatalf("after the known ids expired: new3 remembered %v, %d known; want it alone", ok, len(a.known))
	}
}

// BenchmarkRememberKnownFull is the cost of a new key's first acceptance
// when the known key ids are full (a validator that saw 100 000 keys in a
// day): it holds the authenticator's write lock.
func BenchmarkRememberKnownFull(b *testing.B) {
	t0 := time.Now()
	a, _ := fullKnown(t0)
	for i := 0; b.Loop(); i++ {
		a.rememberLocked("new")
	}
}
