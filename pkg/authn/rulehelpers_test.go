package authn

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
)

// TestRuleHelpers: the helpers build the rules the option would declare.
func TestRuleHelpers(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  *authv1.AuthRule
		want *authv1.AuthRule
	}{
		{"scopes", Scopes("a:read", "a:write"), &authv1.AuthRule{Scopes: []string{"a:read", "a:write"}}},
		{"any of", AnyOf([]string{"a:read"}, []string{"a:admin"}), &authv1.AuthRule{
			Scopes: []string{"a:read"}, AlternativeScopes: []*authv1.ScopeSet{{Scopes: []string{"a:admin"}}},
		}},
		{"public", Public(), &authv1.AuthRule{Public: true}},
		{"accept", Accept(Scopes("a:read"), JWT, MTLS), &authv1.AuthRule{
			Scopes: []string{"a:read"}, Credentials: []authv1.CredentialKind{JWT, MTLS},
		}},
	} {
		if !proto.Equal(tc.got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
		if _, err := compileRule(tc.got); err != nil {
			t.Errorf("%s: does not compile: %v", tc.name, err)
		}
	}
	base := Scopes("a:read")
	_ = Accept(base, APIKey)
	if len(base.GetCredentials()) != 0 {
		t.Error("Accept changed the rule it was given")
	}
}

// TestRulesFromServer: rules come from the registered services' options
// and from extra; a registered method with neither fails the build, and
// Check names it.
func TestRulesFromServer(t *testing.T) {
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	testgrpc.RegisterTestServiceServer(srv, testgrpc.UnimplementedTestServiceServer{})
	// The test service's protos carry no rule option: without extra, its
	// methods have no rule, and the build fails naming them.
	if _, err := RulesFromServer(srv, nil); err == nil || !strings.Contains(err.Error(), "/grpc.testing.TestService/UnaryCall") {
		t.Fatalf("a method without a rule: %v", err)
	}
	extra := map[string]*authv1.AuthRule{}
	for _, m := range srv.GetServiceInfo()["grpc.testing.TestService"].Methods {
		extra["/grpc.testing.TestService/"+m.Name] = Scopes("things:read")
	}
	extra["/grpc.testing.TestService/EmptyCall"] = Public()
	rules, err := RulesFromServer(srv, extra)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := rules.Lookup("/grpc.testing.TestService/UnaryCall"); !ok || !proto.Equal(r, Scopes("things:read")) {
		t.Fatalf("UnaryCall's rule: %v", r)
	}
	if got := rules.Public(); len(got) != 1 || got[0] != "/grpc.testing.TestService/EmptyCall" {
		t.Fatalf("Public() = %v (the well-known health methods are not listed)", got)
	}
	// A service registered later, without rules in extra, is caught by
	// Check; with its descriptors registered, its options are read.
	clientsv1.RegisterClientRegistryServiceServer(srv, clientsv1.UnimplementedClientRegistryServiceServer{})
	if err := rules.Check(srv); err == nil || !strings.Contains(err.Error(), "/gatehouse.clients.v1.ClientRegistryService/") {
		t.Fatalf("Check: %v", err)
	}
	all, err := RulesFromServer(srv, extra)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all.Lookup("/gatehouse.clients.v1.ClientRegistryService/CreateClient"); !ok {
		t.Fatal("the registry's rule options were not read")
	}
}

// TestRequireScopes: the HTTP middleware helpers enforce the rule they
// are given.
func TestRequireScopes(t *testing.T) {
	keys := newFakeVerifier()
	reader, _ := keys.add(t, accepted("c1", clientsv1.RateLimitTier_RATE_LIMIT_TIER_STANDARD, "things:read"))
	v := NewValidator(testRules(t), WithAuthenticator(NewAPIKeyAuthenticator(keys)), WithLogger(discardLogger()))
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := FromContext(r.Context()); p == nil || p.ClientID != "c1" {
			t.Errorf("principal %v", p)
		}
	})
	for _, tc := range []struct {
		name string
		h    http.Handler
		key  string
		want int
	}{
		{"granted", v.RequireScopes("things:read")(ok), reader, http.StatusOK},
		{"missing scope", v.RequireScopes("things:write")(ok), reader, http.StatusForbidden},
		{"no credential", v.RequireScopes("things:read")(ok), "", http.StatusUnauthorized},
		{"public", v.Require(Public())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})), "", http.StatusOK},
	} {
		req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/things", nil)
		if tc.key != "" {
			req.Header.Set(HeaderAPIKey, tc.key)
		}
		w := httptest.NewRecorder()
		tc.h.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.want)
		}
	}
}

// Rules for a service whose protos carry no gatehouse.auth.v1.rule option,
// written with the helpers.
func ExampleNewRules_helpers() {
	rules, err := NewRules(map[string]*authv1.AuthRule{
		"/orders.v1.Orders/ListOrders":  Scopes("orders:read"),
		"/orders.v1.Orders/CancelOrder": AnyOf([]string{"orders:write"}, []string{"orders:admin"}),
		"/orders.v1.Orders/Status":      Public(),
		"/orders.v1.Orders/Export":      Accept(Scopes("orders:read"), MTLS),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(rules.Public())
	fmt.Println(rules.Scopes())
	// Output:
	// [/orders.v1.Orders/Status]
	// [orders:admin orders:read orders:write]
}
