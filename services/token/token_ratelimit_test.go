package token_test

import (
	"net/http"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
)

// TestTokenEndpointBudget is checklist item 90 at the token endpoint: every
// request of an authenticated client, successful ones included, spends its
// tier's budget (the low tier: 5 a second, burst 10); a public client's
// budget is per client and address.
func TestTokenEndpointBudget(t *testing.T) {
	const burst = 10
	t.Run("a confidential client's successful requests", func(t *testing.T) {
		e := newEnv(t)
		low := e.create(&clientsv1.Client{
			Name: "Low", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"orders:read"}, RateLimitTier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_LOW,
		})
		form := "grant_type=client_credentials"
		for i := range burst {
			if r := e.do(httpFrom(t, "127.0.9.1"), request{path: "/oauth2/token", basic: basic(low.id, low.secret), body: form}); r.status != http.StatusOK {
				t.Fatalf("request %d within the burst: %d %s", i, r.status, r.body)
			}
		}
		// Over budget from any address: the budget is the client's.
		assertTooManyRequests(t, e.do(httpFrom(t, "127.0.9.2"), request{path: "/oauth2/token", basic: basic(low.id, low.secret), body: form}))
		var audited bool
		for _, f := range e.audit.all() {
			audited = audited || f.Reason == audit.ReasonRateLimited && f.ClientID == low.id && f.Method == "/oauth2/token"
		}
		if !audited {
			t.Error("the refusal was not audited")
		}
		// Another client, in the standard tier, is not affected.
		if r := e.do(httpFrom(t, "127.0.9.1"), request{path: "/oauth2/token", basic: basic(e.partner.id, e.partner.secret), body: form}); r.status != http.StatusOK {
			t.Fatalf("another client: %d %s", r.status, r.body)
		}
		// The budget refills at the tier's rate.
		e.clock.Advance(time.Second)
		if r := e.do(httpFrom(t, "127.0.9.1"), request{path: "/oauth2/token", basic: basic(low.id, low.secret), body: form}); r.status != http.StatusOK {
			t.Fatalf("after a second: %d %s", r.status, r.body)
		}
	})

	t.Run("a public client's budget is per address", func(t *testing.T) {
		e := newEnv(t, withFlow())
		spa := e.create(&clientsv1.Client{
			Name: "Low SPA", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, Public: true,
			GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectUris: []string{spaRedirect},
			Scopes: []string{"orders:read"}, RateLimitTier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_LOW,
		})
		// Unknown refresh tokens: each request spends the budget all the
		// same (and is answered invalid_grant).
		form := "grant_type=refresh_token&refresh_token=unknown&client_id=" + spa.id
		first, second := httpFrom(t, "127.0.9.3"), httpFrom(t, "127.0.9.4")
		for range burst {
			assertOAuthError(t, e.do(first, request{path: "/oauth2/token", body: form}), http.StatusBadRequest, "invalid_grant")
		}
		assertTooManyRequests(t, e.do(first, request{path: "/oauth2/token", body: form}))
		// Anyone may name a public client: its users elsewhere keep theirs.
		assertOAuthError(t, e.do(second, request{path: "/oauth2/token", body: form}), http.StatusBadRequest, "invalid_grant")
	})
}
