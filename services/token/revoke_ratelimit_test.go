package token_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
)

// assertTooManyRequests checks a 429 for the request budget (not the
// failure budget, whose description assert429 checks).
func assertTooManyRequests(t *testing.T, r response) {
	t.Helper()
	assertOAuthError(t, r, http.StatusTooManyRequests, "invalid_request")
	if d := r.json(t)["error_description"]; d != "too many requests" {
		t.Errorf("error_description %q, want too many requests", d)
	}
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 || n > 60 {
		t.Errorf("Retry-After %q, want 1 to 60 seconds", r.header.Get("Retry-After"))
	}
}

// TestRevocationRateLimited is checklist item 80 at the RFC 7009 endpoint:
// each caller has a request budget (its client's rate-limit tier; a
// public client's per address too), failed client authentications spend
// the token endpoint's per-client and per-address budgets, over budget
// the answer is 429 with Retry-After, and other clients are not locked
// out.
func TestRevocationRateLimited(t *testing.T) {
	lowTier := func(e *env, name string, public bool) registered {
		c := &clientsv1.Client{
			Name: name, Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"orders:read"}, RateLimitTier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_LOW,
		}
		if public {
			c.Public, c.GrantTypes, c.RedirectUris = true, []string{"authorization_code", "refresh_token"}, []string{spaRedirect}
		}
		return e.create(c)
	}
	// The low tier: 5 a second, burst 10.
	const burst = 10

	t.Run("per client, by its tier", func(t *testing.T) {
		e := newEnv(t)
		low := lowTier(e, "Low", false)
		tok := e.accessToken(low, "")
		for i := range burst {
			assertEmpty200(t, e.revokeAs(low, fmt.Sprintf("token=guess%d", i)))
		}
		// Over budget, the revocation is refused and revokes nothing...
		assertTooManyRequests(t, e.revokeAs(low, "token="+tok))
		if len(e.revoker.requests()) != 0 || !e.active(tok) {
			t.Fatal("a revocation refused for the budget revoked the token")
		}
		// ...from any address: the budget is the client's.
		assertTooManyRequests(t, e.do(httpFrom(t, "127.0.6.2"), request{path: "/oauth2/revoke", basic: basic(low.id, low.secret), body: "token=x"}))
		var audited bool
		for _, f := range e.audit.all() {
			audited = audited || f.Reason == audit.ReasonRateLimited && f.ClientID == low.id && f.Method == "/oauth2/revoke"
		}
		if !audited {
			t.Error("the refusal was not audited")
		}
		// Other clients are not affected.
		assertEmpty200(t, e.revokeAs(e.partner, "token=x"))
		// The budget refills at the tier's rate.
		e.clock.Advance(time.Second)
		assertEmpty200(t, e.revokeAs(low, "token="+tok))
		if e.active(tok) {
			t.Fatal("token active after the revocation")
		}
	})

	t.Run("a public client's budget is per address", func(t *testing.T) {
		e := newEnv(t, withFlow())
		spa := lowTier(e, "Low SPA", true)
		body := "token=x&client_id=" + spa.id
		first, second := httpFrom(t, "127.0.7.1"), httpFrom(t, "127.0.7.2")
		for range burst {
			assertEmpty200(t, e.do(first, request{path: "/oauth2/revoke", body: body}))
		}
		assertTooManyRequests(t, e.do(first, request{path: "/oauth2/revoke", body: body}))
		// Anyone may name a public client: its users elsewhere keep
		// theirs.
		assertEmpty200(t, e.do(second, request{path: "/oauth2/revoke", body: body}))
	})

	t.Run("failed authentications, per client at one address", func(t *testing.T) {
		e := newEnv(t)
		attacker := httpFrom(t, "127.0.8.1")
		for range pairBudget {
			r := e.do(attacker, request{path: "/oauth2/revoke", basic: basic(e.partner.id, "wrong"), body: "token=x"})
			assertOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
		}
		assert429(t, e.do(attacker, request{path: "/oauth2/revoke", basic: basic(e.partner.id, "wrong"), body: "token=x"}))
		verifies := e.spy.verifies.Load()
		// The right secret from there: refused unchecked, at the
		// revocation and the token endpoints alike (one budget).
		assert429(t, e.do(attacker, request{path: "/oauth2/revoke", basic: basic(e.partner.id, e.partner.secret), body: "token=x"}))
		assert429(t, e.tokenFor(attacker, e.partner, ""))
		if e.spy.verifies.Load() != verifies {
			t.Error("an over-budget request had its secret checked")
		}
		// The client elsewhere, and another client from there, are fine.
		assertEmpty200(t, e.do(httpFrom(t, "127.0.8.2"), request{path: "/oauth2/revoke", basic: basic(e.partner.id, e.partner.secret), body: "token=x"}))
		assertEmpty200(t, e.do(attacker, request{path: "/oauth2/revoke", basic: basic(e.noScopes.id, e.noScopes.secret), body: "token=x"}))
	})
}
