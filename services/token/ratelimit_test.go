package token_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/services/token"
)

// The failure budgets (failures.go): per client at one address, per
// address, per client across addresses.
const (
	pairBudget       = 10
	addressBudget    = 30
	credentialBudget = 20
)

// TestFailedAuthenticationBudgets is checklist items 80 and 89 for the
// token endpoint: failed client authentications spend a budget per client
// at one address, per address and per client; only the first refuses a
// secret unchecked, so a stranger who knows a client_id cannot lock the
// client out, and a guessing address does not lock out the good callers
// behind it.
func TestFailedAuthenticationBudgets(t *testing.T) {
	t.Run("a stranger spreading wrong secrets over addresses cannot lock the client out", func(t *testing.T) {
		e := newEnv(t)
		victim := e.partner
		for i := range credentialBudget {
			r := e.tokenFor(httpFrom(t, fmt.Sprintf("127.0.1.%d", i+1)), registered{victim.id, "wrong"}, "")
			assertOAuthError(t, r, 401, "invalid_client")
		}
		// The client's budget is spent: wrong secrets are answered 429...
		assert429(t, e.tokenFor(httpFrom(t, "127.0.1.100"), registered{victim.id, "wrong"}, ""))
		// ...but the right one works, from a fresh address and from one
		// the stranger used.
		for _, ip := range []string{"127.0.1.101", "127.0.1.1"} {
			if r := e.tokenFor(httpFrom(t, ip), victim, ""); r.status != http.StatusOK {
				t.Errorf("the right secret from %s: %d %s", ip, r.status, r.body)
			}
		}
	})

	t.Run("one client guessed at from one address: refused unchecked there only", func(t *testing.T) {
		e := newEnv(t)
		attacker := httpFrom(t, "127.0.5.1")
		for range pairBudget {
			assertOAuthError(t, e.tokenFor(attacker, registered{e.partner.id, "wrong"}, ""), 401, "invalid_client")
		}
		assert429(t, e.tokenFor(attacker, registered{e.partner.id, "wrong"}, ""))
		verifies := e.spy.verifies.Load()
		r := e.tokenFor(attacker, e.partner, "") // a right guess is not answered
		assert429(t, r)
		if e.spy.verifies.Load() != verifies {
			t.Error("an over-budget request had its secret checked")
		}
		if r := e.tokenFor(httpFrom(t, "127.0.5.2"), e.partner, ""); r.status != http.StatusOK {
			t.Errorf("the right secret from another address: %d %s", r.status, r.body)
		}
		// The budget refills at 10 a minute: after Retry-After, one try.
		wait, _ := strconv.Atoi(r.header.Get("Retry-After"))
		e.clock.Advance(time.Duration(wait) * time.Second)
		if r := e.tokenFor(attacker, e.partner, ""); r.status != http.StatusOK {
			t.Errorf("after Retry-After: %d %s", r.status, r.body)
		}
	})

	t.Run("a guessing address does not lock out a good caller behind it", func(t *testing.T) {
		e := newEnv(t)
		shared := httpFrom(t, "127.0.2.1")
		for i := range addressBudget {
			r := e.tokenFor(shared, registered{fmt.Sprintf("c_guess%d", i), "wrong"}, "")
			assertOAuthError(t, r, 401, "invalid_client")
		}
		assert429(t, e.tokenFor(shared, registered{"c_guess99", "wrong"}, ""))
		if r := e.tokenFor(shared, e.partner, ""); r.status != http.StatusOK {
			t.Errorf("a valid client behind the guessing address: %d %s", r.status, r.body)
		}
	})

	t.Run("introspection failures share the budgets", func(t *testing.T) {
		e := newEnv(t)
		c := httpFrom(t, "127.0.3.1")
		for range pairBudget {
			r := e.do(c, request{path: "/oauth2/introspect", basic: basic(e.introspector.id, "wrong"), body: "token=x"})
			assertOAuthError(t, r, 401, "invalid_client")
		}
		// The failure that finds the budget empty is answered 429...
		assert429(t, e.do(c, request{path: "/oauth2/introspect", basic: basic(e.introspector.id, "wrong"), body: "token=x"}))
		// ...and from then on even the right secret is refused unchecked
		// from there.
		r := e.do(c, request{path: "/oauth2/introspect", basic: basic(e.introspector.id, e.introspector.secret), body: "token=x"})
		assert429(t, r)
		if strings.Contains(string(r.body), "active") {
			t.Errorf("an over-budget caller got token data: %s", r.body)
		}
	})

	t.Run("failures are audited and nothing secret is logged", func(t *testing.T) {
		e := newEnv(t)
		good := e.accessToken(e.partner, "")
		c := httpFrom(t, "127.0.4.7")
		for range pairBudget + 1 {
			e.tokenFor(c, registered{e.partner.id, "wrong-secret-value"}, "")
		}
		e.do(c, request{path: "/oauth2/introspect", basic: basic(e.partner.id, e.partner.secret), body: "token=" + good})
		got := e.audit.all()
		// 11 refused secrets (the 11th answered 429), then the refused
		// introspection from the blocked pair.
		if len(got) != pairBudget+2 {
			t.Fatalf("%d audit records, want %d: %+v", len(got), pairBudget+2, got)
		}
		for i, f := range got[:pairBudget+1] {
			if f.Reason != token.ReasonInvalidClientCredentials || f.ClientID != e.partner.id || f.Method != "/oauth2/token" || f.Remote != "127.0.4.7" {
				t.Errorf("record %d: %+v", i, f)
			}
		}
		if f := got[pairBudget+1]; f.Reason != audit.ReasonTooManyFailures || f.Method != "/oauth2/introspect" {
			t.Errorf("the refused introspection: %+v", f)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, `"event":"auth_failure"`) || !strings.Contains(logs, e.partner.id) {
			t.Errorf("failures were not logged:\n%s", logs)
		}
		for _, secret := range []string{e.partner.secret, "wrong-secret-value", good, strings.Split(good, ".")[2]} {
			if strings.Contains(logs, secret) {
				t.Errorf("the logs hold a secret or a token:\n%s", logs)
			}
		}
	})
}
func assert429(t *testing.T, r response) {
	t.Helper()
	assertOAuthError(t, r, http.StatusTooManyRequests, "invalid_request")
	if d := r.json(t)["error_description"]; d != "too many failed client authentications" {
		t.Errorf("error_description %q", d)
	}
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 || n > 60 {
		t.Errorf("Retry-After %q, want 1 to 60 seconds", r.header.Get("Retry-After"))
	}
}
