package openapigen

import (
	"reflect"
	"testing"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
)

const (
	jwt  = authv1.CredentialKind_CREDENTIAL_KIND_JWT
	key  = authv1.CredentialKind_CREDENTIAL_KIND_API_KEY
	mtls = authv1.CredentialKind_CREDENTIAL_KIND_MTLS
)

func TestRequirements(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rule    *authv1.AuthRule
		want    []Requirement
		wantV2  []Requirement
		wantErr bool
	}{{
		name:   "public: no requirement",
		rule:   &authv1.AuthRule{Public: true},
		want:   []Requirement{},
		wantV2: []Requirement{},
	}, {
		name: "no kinds listed: tokens and API keys",
		rule: &authv1.AuthRule{Scopes: []string{"inventory:write"}},
		want: []Requirement{
			{SchemeBearer: {"inventory:write"}},
			{SchemeDPoP: {"inventory:write"}},
			{SchemeAPIKey: {"inventory:write"}},
		},
		wantV2: []Requirement{{SchemeBearer: {"inventory:write"}}, {SchemeAPIKey: {}}},
	}, {
		name: "sender-constrained: a DPoP-bound token, or a token with its certificate; no API key",
		rule: &authv1.AuthRule{Scopes: []string{"inventory:write"}, RequireSenderConstrained: true},
		want: []Requirement{
			{SchemeDPoP: {"inventory:write"}},
			{SchemeBearer: {"inventory:write"}, SchemeMutualTLS: {}},
		},
		wantV2: []Requirement{{SchemeBearer: {"inventory:write"}}},
	}, {
		name: "alternative scope sets: one requirement each, per kind",
		rule: &authv1.AuthRule{
			Scopes:            []string{"gatehouse:admin"},
			AlternativeScopes: []*authv1.ScopeSet{{Scopes: []string{"gatehouse:admin.read", "gatehouse:admin.read"}}},
			Credentials:       []authv1.CredentialKind{jwt, mtls},
		},
		want: []Requirement{
			{SchemeBearer: {"gatehouse:admin"}},
			{SchemeDPoP: {"gatehouse:admin"}},
			{SchemeBearer: {"gatehouse:admin.read"}},
			{SchemeDPoP: {"gatehouse:admin.read"}},
			{SchemeMutualTLS: {"gatehouse:admin"}},
			{SchemeMutualTLS: {"gatehouse:admin.read"}},
		},
		wantV2: []Requirement{{SchemeBearer: {"gatehouse:admin"}}, {SchemeBearer: {"gatehouse:admin.read"}}},
	}, {
		name:    "certificate only: nothing OpenAPI 2 can say",
		rule:    &authv1.AuthRule{Scopes: []string{"gatehouse:internal.signing_key"}, Credentials: []authv1.CredentialKind{mtls}},
		want:    []Requirement{{SchemeMutualTLS: {"gatehouse:internal.signing_key"}}},
		wantErr: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Requirements(tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Requirements = %v, want %v", got, tc.want)
			}
			v2, err := ForOpenAPI2(got)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ForOpenAPI2 error %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(v2, tc.wantV2) {
				t.Fatalf("ForOpenAPI2 = %v, want %v", v2, tc.wantV2)
			}
		})
	}
	if _, err := Requirements(nil); err == nil {
		t.Fatal("Requirements(nil) succeeded")
	}
}
