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

// failBudget is the burst of the failure budgets: 20 failures, then 10 a
// minute.
const failBudget = 20

// TestFailedAuthenticationBudgets is checklist item 80 for the token
// endpoint: failed client authentications are limited per client_id and,
// separately, per remote address; over budget the answer is 429 with
// Retry-After, even for the right secret (which is then not checked), and
// other clients and other addresses are not locked out.
func TestFailedAuthenticationBudgets(t *testing.T) {
	t.Run("per client, across addresses", func(t *testing.T) {
		e := newEnv(t)
		victim := e.partner
		// One failure from each of 20 addresses exhausts the client's
		// budget without exhausting any address's.
		for i := range failBudget {
			r := e.tokenFor(httpFrom(t, fmt.Sprintf("127.0.1.%d", i+1)), registered{victim.id, "wrong"}, "")
			assertOAuthError(t, r, 401, "invalid_client")
		}
		r := e.tokenFor(httpFrom(t, "127.0.1.100"), registered{victim.id, "wrong"}, "")
		assert429(t, r)
		verifies := e.spy.verifies.Load()
		r = e.tokenFor(httpFrom(t, "127.0.1.101"), victim, "") // the right secret, from a fresh address
		assert429(t, r)
		if e.spy.verifies.Load() != verifies {
			t.Error("an over-budget request had its secret checked")
		}
		// Other clients, from the very addresses that failed, are fine.
		for _, other := range []registered{e.poster, e.introspector} {
			c := httpFrom(t, "127.0.1.1")
			if other == e.poster {
				r = e.do(c, request{path: "/oauth2/token", body: "grant_type=client_credentials&client_id=" + other.id + "&client_secret=" + other.secret})
			} else {
				r = e.tokenFor(c, other, "")
			}
			if r.status != http.StatusOK {
				t.Errorf("client %s locked out by another client's failures: %d %s", other.id, r.status, r.body)
			}
		}
		// The budget refills at 10 a minute: after Retry-After, one try.
		wait, _ := strconv.Atoi(r429(t, e.tokenFor(nil, victim, "")).header.Get("Retry-After"))
		e.clock.Advance(time.Duration(wait) * time.Second)
		if r := e.tokenFor(nil, victim, ""); r.status != http.StatusOK {
			t.Errorf("after Retry-After: %d %s", r.status, r.body)
		}
	})

	t.Run("per address, across clients", func(t *testing.T) {
		e := newEnv(t)
		attacker := httpFrom(t, "127.0.2.1")
		// 20 different (unknown) clients from one address.
		for i := range failBudget {
			r := e.tokenFor(attacker, registered{fmt.Sprintf("c_guess%d", i), "wrong"}, "")
			assertOAuthError(t, r, 401, "invalid_client")
		}
		assert429(t, e.tokenFor(attacker, registered{"c_guess99", "wrong"}, ""))
		// A real client's right secret from that address is refused too...
		assert429(t, e.tokenFor(attacker, e.partner, ""))
		// ...but the client is not locked out elsewhere, nor is any
		// other address.
		for _, ip := range []string{"127.0.2.2", "127.0.0.1"} {
			if r := e.tokenFor(httpFrom(t, ip), e.partner, ""); r.status != http.StatusOK {
				t.Errorf("from %s: %d %s", ip, r.status, r.body)
			}
		}
	})

	t.Run("introspection failures share the budgets", func(t *testing.T) {
		e := newEnv(t)
		c := httpFrom(t, "127.0.3.1")
		for range failBudget {
			r := e.do(c, request{path: "/oauth2/introspect", basic: basic(e.introspector.id, "wrong"), body: "token=x"})
			assertOAuthError(t, r, 401, "invalid_client")
		}
		// The failure that finds the budget empty is answered 429...
		assert429(t, e.do(c, request{path: "/oauth2/introspect", basic: basic(e.introspector.id, "wrong"), body: "token=x"}))
		// ...and from then on even the right secret is refused unchecked.
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
		for range failBudget + 1 {
			e.tokenFor(c, registered{e.partner.id, "wrong-secret-value"}, "")
		}
		e.do(c, request{path: "/oauth2/introspect", basic: basic(e.partner.id, e.partner.secret), body: "token=" + good})
		got := e.audit.all()
		// 21 refused secrets (the 21st answered 429), then the refused
		// introspection from the blocked address.
		if len(got) != failBudget+2 {
			t.Fatalf("%d audit records, want %d: %+v", len(got), failBudget+2, got)
		}
		for i, f := range got[:failBudget] {
			if f.Reason != token.ReasonInvalidClientCredentials || f.ClientID != e.partner.id || f.Method != "/oauth2/token" || f.Remote != "127.0.4.7" {
				t.Errorf("record %d: %+v", i, f)
			}
		}
		if f := got[failBudget]; f.Reason != token.ReasonInvalidClientCredentials {
			t.Errorf("the failure that exhausted the budget: %+v", f)
		}
		if f := got[failBudget+1]; f.Reason != audit.ReasonRateLimited || f.Method != "/oauth2/introspect" {
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

func r429(t *testing.T, r response) response {
	t.Helper()
	assert429(t, r)
	return r
}
