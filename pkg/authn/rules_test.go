package authn

import (
	"context"
	"slices"
	"strings"
	"testing"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoregistry"
)

func TestNewRulesValidation(t *testing.T) {
	tests := []struct {
		name    string
		rules   map[string]*authv1.AuthRule
		wantErr string
	}{
		{name: "valid", rules: map[string]*authv1.AuthRule{"/a.B/C": {Scopes: []string{"x:read"}}}},
		{name: "public with scopes", rules: map[string]*authv1.AuthRule{"/a.B/C": {Public: true, Scopes: []string{"x"}}}, wantErr: "public rule"},
		{name: "public with credentials", rules: map[string]*authv1.AuthRule{"/a.B/C": {Public: true, Credentials: []authv1.CredentialKind{authv1.CredentialKind_CREDENTIAL_KIND_JWT}}}, wantErr: "public rule"},
		{name: "unspecified kind", rules: map[string]*authv1.AuthRule{"/a.B/C": {Credentials: []authv1.CredentialKind{authv1.CredentialKind_CREDENTIAL_KIND_UNSPECIFIED}}}, wantErr: "credential kind"},
		{name: "unknown kind", rules: map[string]*authv1.AuthRule{"/a.B/C": {Credentials: []authv1.CredentialKind{42}}}, wantErr: "credential kind"},
		{name: "scope with space", rules: map[string]*authv1.AuthRule{"/a.B/C": {Scopes: []string{"a b"}}}, wantErr: "invalid scope"},
		{name: "scope with quote", rules: map[string]*authv1.AuthRule{"/a.B/C": {Scopes: []string{`a"`}}}, wantErr: "invalid scope"},
		{name: "empty scope", rules: map[string]*authv1.AuthRule{"/a.B/C": {Scopes: []string{""}}}, wantErr: "invalid scope"},
		{name: "nil rule", rules: map[string]*authv1.AuthRule{"/a.B/C": nil}, wantErr: "nil rule"},
		{name: "no leading slash", rules: map[string]*authv1.AuthRule{"a.B/C": {}}, wantErr: "full method"},
		{name: "no method", rules: map[string]*authv1.AuthRule{"/a.B/": {}}, wantErr: "full method"},
		{name: "prefix", rules: map[string]*authv1.AuthRule{"/a.B/*": {Public: true}, "/a.B/C/D": {}}, wantErr: "full method"},
		{name: "every problem reported", rules: map[string]*authv1.AuthRule{"x": {}, "/a.B/C": {Scopes: []string{""}}}, wantErr: "invalid scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRules(tt.rules)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestRulesLookup(t *testing.T) {
	r, err := NewRules(map[string]*authv1.AuthRule{
		"/a.B/Read":                    {Scopes: []string{"b:read"}},
		"/a.B/Write":                   {Scopes: []string{"b:write", "b:read", "b:write"}},
		"/grpc.health.v1.Health/Watch": {Scopes: []string{"ops:health"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		method     string
		wantFound  bool
		wantPublic bool
		wantScopes []string
	}{
		{name: "declared", method: "/a.B/Read", wantFound: true, wantScopes: []string{"b:read"}},
		{name: "not declared", method: "/a.B/Delete", wantFound: false},
		{name: "no prefix match", method: "/a.B/ReadAll", wantFound: false},
		{name: "case matters", method: "/a.b/Read", wantFound: false},
		{name: "health check is public", method: "/grpc.health.v1.Health/Check", wantFound: true, wantPublic: true},
		{name: "health list is public", method: "/grpc.health.v1.Health/List", wantFound: true, wantPublic: true},
		{name: "explicit rule beats well-known", method: "/grpc.health.v1.Health/Watch", wantFound: true, wantScopes: []string{"ops:health"}},
		{name: "reflection v1", method: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", wantFound: true, wantPublic: true},
		{name: "reflection v1alpha", method: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", wantFound: true, wantPublic: true},
		{name: "other health method", method: "/grpc.health.v1.Health/Other", wantFound: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, ok := r.Lookup(tt.method)
			if ok != tt.wantFound {
				t.Fatalf("found = %v, want %v", ok, tt.wantFound)
			}
			if !ok {
				return
			}
			if rule.GetPublic() != tt.wantPublic || !slices.Equal(rule.GetScopes(), tt.wantScopes) {
				t.Fatalf("rule = %v, want public=%v scopes=%v", rule, tt.wantPublic, tt.wantScopes)
			}
		})
	}
	if got, want := r.Scopes(), []string{"b:read", "b:write", "ops:health"}; !slices.Equal(got, want) {
		t.Fatalf("Scopes() = %v, want %v", got, want)
	}
	var nilRules *Rules
	if _, ok := nilRules.Lookup("/a.B/Read"); ok {
		t.Fatal("nil Rules found a rule")
	}
}

func TestRulesFromFiles(t *testing.T) {
	r, err := RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		method     string
		wantFound  bool
		wantPublic bool
		wantScopes []string
	}{
		{name: "admin method", method: clientsv1.ClientRegistryService_CreateClient_FullMethodName, wantFound: true, wantScopes: []string{"gatehouse:admin"}},
		{name: "internal method", method: clientsv1.ClientRegistryService_VerifyAPIKey_FullMethodName, wantFound: true, wantScopes: []string{"gatehouse:internal"}},
		{name: "test service has no rule", method: testgrpc.TestService_UnaryCall_FullMethodName, wantFound: false},
		{name: "health is public by name", method: "/grpc.health.v1.Health/Check", wantFound: true, wantPublic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, ok := r.Lookup(tt.method)
			if ok != tt.wantFound {
				t.Fatalf("found = %v, want %v", ok, tt.wantFound)
			}
			if ok && (rule.GetPublic() != tt.wantPublic || !slices.Equal(rule.GetScopes(), tt.wantScopes)) {
				t.Fatalf("rule = %v", rule)
			}
		})
	}
	for _, s := range []string{"gatehouse:admin", "gatehouse:internal"} {
		if !slices.Contains(r.Scopes(), s) {
			t.Errorf("Scopes() = %v, missing %q", r.Scopes(), s)
		}
	}
	if !slices.IsSorted(r.Scopes()) {
		t.Errorf("Scopes() not sorted: %v", r.Scopes())
	}
	missing := r.Missing()
	if !slices.Contains(missing, testgrpc.TestService_EmptyCall_FullMethodName) {
		t.Errorf("Missing() = %v, want the test service's methods", missing)
	}
	for _, m := range missing {
		if strings.HasPrefix(m, "/grpc.health.v1.Health/") || strings.HasPrefix(m, "/gatehouse.") {
			t.Errorf("Missing() lists %s", m)
		}
	}
	if _, err := RulesFromFiles(nil); err == nil {
		t.Error("RulesFromFiles(nil) did not fail")
	}
}

func TestRulesFromServices(t *testing.T) {
	sd := clientsv1.File_gatehouse_clients_v1_clients_proto.Services().ByName("ClientRegistryService")
	r, err := RulesFromServices(sd)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Scopes(), []string{"gatehouse:admin", "gatehouse:admin.clients", "gatehouse:admin.read", "gatehouse:internal", "gatehouse:internal.client_secret", "gatehouse:validator"}; !slices.Equal(got, want) {
		t.Fatalf("Scopes() = %v, want %v", got, want)
	}
	if len(r.Missing()) != 0 {
		t.Fatalf("Missing() = %v, want none: every registry RPC has a rule", r.Missing())
	}
	if _, ok := r.Lookup(testgrpc.TestService_EmptyCall_FullMethodName); ok {
		t.Fatal("a service not given has a rule")
	}
}

// TestAlternativeScopes: a rule's own scopes, or every scope of one of
// its alternative sets, authorize the call; a refusal names the rule's
// own scopes.
func TestAlternativeScopes(t *testing.T) {
	const method = "/grpc.testing.TestService/UnaryCall"
	rules, err := NewRules(map[string]*authv1.AuthRule{method: {
		Scopes: []string{"gatehouse:admin"},
		AlternativeScopes: []*authv1.ScopeSet{
			{Scopes: []string{"gatehouse:internal.revoke"}},
			{Scopes: []string{"a:one", "a:two"}},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rules.Scopes(); !slices.Equal(got, []string{"a:one", "a:two", "gatehouse:admin", "gatehouse:internal.revoke"}) {
		t.Fatalf("Scopes() = %v, want the alternatives too", got)
	}
	f := newFakeVerifier()
	v := NewValidator(rules, WithAuthenticator(NewAPIKeyAuthenticator(f)), WithRecorder(&fakeRecorder{}), WithLogger(discardLogger()))
	tests := []struct {
		name   string
		scopes []string
		want   codes.Code
	}{
		{"the rule's scopes", []string{"gatehouse:admin"}, codes.OK},
		{"the first alternative", []string{"gatehouse:internal.revoke"}, codes.OK},
		{"every scope of the second", []string{"a:two", "a:one", "other"}, codes.OK},
		{"half of the second", []string{"a:one"}, codes.PermissionDenied},
		{"none", []string{"gatehouse:internal"}, codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := f.add(t, accepted("c-1", 0, tt.scopes...))
			_, err := v.Authorize(context.Background(), method, metadata.Pairs("authorization", "ApiKey "+raw), "127.0.0.1")
			if status.Code(err) != tt.want {
				t.Fatalf("Authorize: %v, want %s", err, tt.want)
			}
			if tt.want == codes.PermissionDenied && !strings.Contains(status.Convert(err).Message(), "gatehouse:admin") {
				t.Fatalf("refusal %q does not name the rule's scope", status.Convert(err).Message())
			}
		})
	}
	for name, bad := range map[string]*authv1.AuthRule{
		"empty alternative":          {Scopes: []string{"x:y"}, AlternativeScopes: []*authv1.ScopeSet{{}}},
		"alternative without scopes": {AlternativeScopes: []*authv1.ScopeSet{{Scopes: []string{"x:y"}}}},
		"public with alternatives":   {Public: true, AlternativeScopes: []*authv1.ScopeSet{{Scopes: []string{"x:y"}}}},
		"malformed alternative":      {Scopes: []string{"x:y"}, AlternativeScopes: []*authv1.ScopeSet{{Scopes: []string{"bad scope"}}}},
	} {
		if _, err := NewRules(map[string]*authv1.AuthRule{method: bad}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
