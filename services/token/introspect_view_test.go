package token_test

import (
	"net/url"
	"testing"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	tokenv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
	"github.com/gatehouse-dev/gatehouse/services/token"
)

// TestIntrospectionVisibility is checklist items 73 and 91: a resource
// server with gatehouse:introspect sees active only the tokens whose
// audience includes one of its registered resources, and {"active":false}
// for the others, as for an unknown token; gatehouse:introspect.all and
// gatehouse:admin see every token. Over HTTP and gRPC alike.
func TestIntrospectionVisibility(t *testing.T) {
	e := newEnv(t)
	caller := func(name string, scopes []string, resources ...string) registered {
		return e.create(&clientsv1.Client{
			Name: name, Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, GrantTypes: []string{"client_credentials"},
			Scopes: scopes, Resources: resources,
		})
	}
	ordersRS := caller("Orders API", []string{token.ScopeIntrospect}, ordersResource)
	billingRS := caller("Billing API", []string{token.ScopeIntrospect}, billingResource)
	noResources := caller("Nothing registered", []string{token.ScopeIntrospect})
	everyToken := caller("Audit tool", []string{token.ScopeIntrospectAll})
	admin := caller("Admin", []string{"gatehouse:admin"})

	orders := e.accessToken(e.partner, "resource="+url.QueryEscape(ordersResource))
	billing := e.accessToken(e.partner, "resource="+url.QueryEscape(billingResource))
	platform := e.accessToken(e.partner, "")

	tests := []struct {
		name   string
		caller registered
		scopes []string
		sees   map[string]bool
	}{
		{"orders resource server", ordersRS, []string{token.ScopeIntrospect}, map[string]bool{orders: true, billing: false, platform: false}},
		{"billing resource server", billingRS, []string{token.ScopeIntrospect}, map[string]bool{orders: false, billing: true, platform: false}},
		{"introspector without resources", noResources, []string{token.ScopeIntrospect}, map[string]bool{orders: false, billing: false, platform: false}},
		{"gatehouse:introspect.all", everyToken, []string{token.ScopeIntrospectAll}, map[string]bool{orders: true, billing: true, platform: true}},
		{"gatehouse:admin", admin, []string{"gatehouse:admin"}, map[string]bool{orders: true, billing: true, platform: true}},
	}
	names := map[string]string{orders: "orders token", billing: "billing token", platform: "default-audience token"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for tok, want := range tt.sees {
				if want {
					if r := e.introspect(tt.caller, "token="+tok); r.json(t)["active"] != true || r.json(t)["client_id"] != e.partner.id {
						t.Errorf("HTTP, %s: %s, want it active", names[tok], r.body)
					}
				} else {
					assertInactive(t, e, tt.caller, tok)
				}
				got, err := e.svc.Introspect(principal(tt.caller.id, tt.scopes...), &tokenv1.IntrospectRequest{Token: tok})
				if err != nil || got.GetActive() != want || (!want && got.GetClientId() != "") {
					t.Errorf("gRPC, %s: %v %v, want active %v", names[tok], got, err, want)
				}
			}
		})
	}
}
