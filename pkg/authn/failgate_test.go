package authn

import (
	"context"
	"strings"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/apikey"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestFailureGatePerAddress: failed authentications are limited per
// address (checklist items 80, 89). After the budget, the address's
// credentials are refused before any lookup until it refills, except those
// that cost nothing to check (a cached API key, a JWT), which are checked
// and answered; other addresses are not affected.
func TestFailureGatePerAddress(t *testing.T) {
	clk := newFakeClock()
	fv := newFakeVerifier()
	good, _ := fv.add(t, accepted("c_good", clientsv1.RateLimitTier_RATE_LIMIT_TIER_STANDARD, "things:read"))
	bad := unregisteredKey(t)
	rec := &fakeRecorder{}
	// Three failures in a burst, then one per minute.
	lim := ratelimit.New(map[string]ratelimit.Tier{"authfail": {Rate: 1.0 / 60, Burst: 3}}, ratelimit.WithClock(clk.Now))
	v := NewValidator(testRules(t),
		WithAuthenticator(NewAPIKeyAuthenticator(fv)),
		WithRecorder(rec),
		WithLogger(discardLogger()),
		WithFailureLimiter(lim, "authfail", clk.Now))
	call := func(key, addr string) codes.Code {
		md := metadata.Pairs("authorization", "ApiKey "+key)
		_, err := v.Authorize(context.Background(), "/grpc.testing.TestService/UnaryCall", md, addr+":1234")
		return status.Code(err)
	}
	steps := []struct {
		name string
		key  string
		addr string
		want codes.Code
	}{
		{"failure 1", bad, "192.0.2.1", codes.Unauthenticated},
		{"failure 2", bad, "192.0.2.1", codes.Unauthenticated},
		{"failure 3", bad, "192.0.2.1", codes.Unauthenticated},
		{"failure 4 empties the budget", bad, "192.0.2.1", codes.Unauthenticated},
		{"blocked, even with a good key", good, "192.0.2.1", codes.ResourceExhausted},
		{"another address is not affected", good, "192.0.2.2", codes.OK},
		// The good key is now in the validator's cache: checking it asks
		// no one, so the good caller behind the guessing address is
		// answered (checklist item 89).
		{"a key already accepted is checked there, not refused", good, "192.0.2.1", codes.OK},
		{"a missing credential does not count", "", "192.0.2.3", codes.Unauthenticated},
	}
	for _, s := range steps {
		key := s.key
		if s.name == "a missing credential does not count" {
			for range 10 {
				_, err := v.Authorize(context.Background(), "/grpc.testing.TestService/UnaryCall", metadata.MD{}, s.addr+":1")
				if status.Code(err) != codes.Unauthenticated {
					t.Fatalf("%s: %v", s.name, err)
				}
			}
			key = good
			s.want = codes.OK
		}
		if got := call(key, s.addr); got != s.want {
			t.Fatalf("%s: %v, want %v", s.name, got, s.want)
		}
	}
	calls := fv.Calls()
	if got := call(bad, "192.0.2.1"); got != codes.ResourceExhausted || fv.Calls() != calls {
		t.Fatalf("blocked address: %v, verifier called %d more times", got, fv.Calls()-calls)
	}
	if last := rec.all()[len(rec.all())-1]; last.Reason != audit.ReasonTooManyFailures || !strings.HasPrefix(last.Remote, "192.0.2.1") {
		t.Fatalf("audit: %+v", last)
	}
	clk.Advance(61 * time.Second)
	if got := call(good, "192.0.2.1"); got != codes.OK {
		t.Fatalf("after the budget refilled: %v", got)
	}
}

// A principal whose credential carries no tier is limited by the tier the
// resolver names for its client.
func TestTierResolver(t *testing.T) {
	clk := newFakeClock()
	fv := newFakeVerifier()
	key, _ := fv.add(t, accepted("c_trial", clientsv1.RateLimitTier_RATE_LIMIT_TIER_UNSPECIFIED, "things:read"))
	lim := ratelimit.New(map[string]ratelimit.Tier{
		"standard": {Rate: 1000, Burst: 1000},
		"low":      {Rate: 1.0 / 60, Burst: 1},
	}, ratelimit.WithClock(clk.Now))
	var asked []string
	v := NewValidator(testRules(t),
		WithAuthenticator(NewAPIKeyAuthenticator(fv)),
		WithRecorder(&fakeRecorder{}),
		WithLogger(discardLogger()),
		WithRateLimiter(lim),
		WithTierResolver(func(_ context.Context, clientID string) string { asked = append(asked, clientID); return "low" }))
	md := metadata.Pairs("authorization", "ApiKey "+key)
	for i, want := range []codes.Code{codes.OK, codes.ResourceExhausted} {
		_, err := v.Authorize(context.Background(), "/grpc.testing.TestService/UnaryCall", md, "192.0.2.9:1")
		if status.Code(err) != want {
			t.Fatalf("call %d: %v, want %v", i, err, want)
		}
	}
	if len(asked) != 2 || asked[0] != "c_trial" {
		t.Fatalf("resolver asked for %v", asked)
	}
}

// TestFailureGateKnownKey: at an address over its failure budget, an API
// key whose id this validator accepted lately is still checked after its
// cache entry expired, so a good caller behind a guessing address keeps
// working (checklist item 89); once that key id fails from the address, it
// is refused there unchecked like any other.
func TestFailureGateKnownKey(t *testing.T) {
	clk := newFakeClock()
	fv := newFakeVerifier()
	good, goodID := fv.add(t, accepted("c_good", clientsv1.RateLimitTier_RATE_LIMIT_TIER_STANDARD, "things:read"))
	other, err := apikey.New()
	if err != nil {
		t.Fatal(err)
	}
	sameIDWrongSecret := apikey.Key{ID: goodID, Secret: other.Secret}.String()
	// Three failures in a burst, then one an hour: the address stays
	// blocked through the test.
	lim := ratelimit.New(map[string]ratelimit.Tier{"authfail": {Rate: 1.0 / 3600, Burst: 3}}, ratelimit.WithClock(clk.Now))
	v := NewValidator(testRules(t),
		WithAuthenticator(NewAPIKeyAuthenticator(fv, WithCacheTTL(time.Minute), WithCacheClock(clk.Now))),
		WithLogger(discardLogger()),
		WithFailureLimiter(lim, "authfail", clk.Now))
	call := func(key, addr string) codes.Code {
		md := metadata.Pairs("authorization", "ApiKey "+key)
		_, err := v.Authorize(context.Background(), "/grpc.testing.TestService/UnaryCall", md, addr+":1234")
		return status.Code(err)
	}
	if got := call(good, "192.0.2.9"); got != codes.OK {
		t.Fatalf("the good key first: %v", got)
	}
	for range 4 {
		call(unregisteredKey(t), "192.0.2.1")
	}
	if got := call(unregisteredKey(t), "192.0.2.1"); got != codes.ResourceExhausted {
		t.Fatalf("the guessing address: %v, want ResourceExhausted", got)
	}
	clk.Advance(2 * time.Minute) // the good key's cache entry has expired
	calls := fv.Calls()
	if got := call(good, "192.0.2.1"); got != codes.OK || fv.Calls() != calls+1 {
		t.Fatalf("a known key id at the blocked address: %v (verifier called %d times), want it checked and accepted", got, fv.Calls()-calls)
	}
	clk.Advance(2 * time.Minute)
	if got := call(sameIDWrongSecret, "192.0.2.1"); got != codes.ResourceExhausted {
		t.Fatalf("the known key id with a wrong secret: %v, want ResourceExhausted", got)
	}
	calls = fv.Calls()
	if got := call(good, "192.0.2.1"); got != codes.ResourceExhausted || fv.Calls() != calls {
		t.Fatalf("the key id that failed from the blocked address: %v (verifier called %d times), want it refused unchecked", got, fv.Calls()-calls)
	}
	if got := call(good, "192.0.2.2"); got != codes.OK {
		t.Fatalf("the same key from another address: %v", got)
	}
}
