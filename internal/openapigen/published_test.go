package openapigen_test

import (
	"context"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/gen/openapi"
	"github.com/gatehouse-dev/gatehouse/internal/openapigen"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"golang.org/x/mod/modfile"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/audit/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
)

func loadPublished(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Document())
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// The published document is valid OpenAPI 3.1 to two maintained
// validators: libopenapi-validator checks it against the specification's
// JSON Schema, kin-openapi checks references, parameters and schemas.
func TestPublishedDocumentIsValidOpenAPI31(t *testing.T) {
	doc := loadPublished(t)
	if !doc.IsOpenAPI31OrLater() || !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("kin-openapi: %v", err)
	}
	ldoc, err := libopenapi.NewDocument(openapi.Document())
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(ldoc)
	if len(errs) > 0 {
		t.Fatalf("libopenapi-validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("libopenapi-validator: %s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  at %s: %s", se.FieldPath, se.Reason)
			}
		}
	}
}

// Its title and version are Gatehouse's, the version the release: the
// version of the SDK modules the root go.mod requires.
func TestPublishedDocumentInfo(t *testing.T) {
	doc := loadPublished(t)
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.ParseLax("go.mod", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	release := ""
	for _, r := range mf.Require {
		if r.Mod.Path == "github.com/gatehouse-dev/gatehouse/gen" {
			release = r.Mod.Version
		}
	}
	if doc.Info.Title != "Gatehouse API" || release == "" || doc.Info.Version != release {
		t.Fatalf("info %q %q, want Gatehouse API %q", doc.Info.Title, doc.Info.Version, release)
	}
	for _, name := range []string{openapigen.SchemeBearer, openapigen.SchemeAPIKey, openapigen.SchemeMutualTLS} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("no security scheme %s", name)
		}
	}
}

// Every REST operation's security says what its RPC's rule accepts: no
// requirement for a public rule; otherwise exactly the schemes of the
// credential kinds the rule accepts, each with exactly its scope sets.
// The OAuth paths, from oauth.yaml, are not gateway routes.
func TestPublishedSecurityFollowsTheRules(t *testing.T) {
	doc := loadPublished(t)
	rules, err := authn.RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := os.ReadFile("../../proto/gatehouse/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	routes, err := openapigen.ParseRoutes(gw)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string]string{}
	for p := range doc.Paths.Map() {
		shapes[shape(p)] = p
	}
	checked := 0
	for _, r := range routes {
		p, ok := shapes[shape(r.Path)]
		if !ok {
			t.Errorf("route %s %s is not in the document", r.Method, r.Path)
			continue
		}
		op := doc.Paths.Value(p).GetOperation(r.Method)
		rule, ok := rules.Lookup(r.FullMethod())
		if op == nil || !ok {
			t.Errorf("%s %s: operation %v, rule %v", r.Method, p, op != nil, ok)
			continue
		}
		if op.Security == nil {
			t.Errorf("%s %s has no security of its own (it would inherit the document's)", r.Method, p)
			continue
		}
		if got, want := securityOf(*op.Security), expected(rule); !slices.Equal(got, want) {
			t.Errorf("%s %s (%s): security\n %v\nwant\n %v", r.Method, p, r.Selector, got, want)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no operation checked")
	}
}

func shape(p string) string {
	var b strings.Builder
	in := false
	for _, c := range p {
		switch {
		case c == '{':
			in = true
			b.WriteString("{}")
		case c == '}':
			in = false
		case !in:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// securityOf flattens requirements into sorted "scheme:scope scope" lines.
func securityOf(reqs openapi3.SecurityRequirements) []string {
	var out []string
	for _, r := range reqs {
		for scheme, scopes := range r {
			s := slices.Clone(scopes)
			sort.Strings(s)
			out = append(out, scheme+":"+strings.Join(s, " "))
		}
	}
	sort.Strings(out)
	return out
}

func expected(rule *authv1.AuthRule) []string {
	if rule.GetPublic() {
		return nil
	}
	kinds := map[authv1.CredentialKind]string{
		authv1.CredentialKind_CREDENTIAL_KIND_JWT:     "Bearer",
		authv1.CredentialKind_CREDENTIAL_KIND_API_KEY: "ApiKey",
		authv1.CredentialKind_CREDENTIAL_KIND_MTLS:    "MutualTLS",
	}
	accepted := rule.GetCredentials()
	if len(accepted) == 0 {
		accepted = []authv1.CredentialKind{authv1.CredentialKind_CREDENTIAL_KIND_JWT, authv1.CredentialKind_CREDENTIAL_KIND_API_KEY}
	}
	sets := [][]string{rule.GetScopes()}
	for _, alt := range rule.GetAlternativeScopes() {
		sets = append(sets, alt.GetScopes())
	}
	bound := rule.GetRequireSenderConstrained()
	var out []string
	for _, k := range accepted {
		for _, set := range sets {
			s := slices.Clone(set)
			sort.Strings(s)
			scopes := strings.Join(slices.Compact(s), " ")
			switch {
			case k == authv1.CredentialKind_CREDENTIAL_KIND_API_KEY && bound:
			case k == authv1.CredentialKind_CREDENTIAL_KIND_JWT && bound:
				// DPoP-bound, or certificate-bound with its certificate.
				out = append(out, "DPoP:"+scopes, "Bearer:"+scopes, "MutualTLS:")
			case k == authv1.CredentialKind_CREDENTIAL_KIND_JWT:
				out = append(out, "Bearer:"+scopes, "DPoP:"+scopes)
			default:
				out = append(out, kinds[k]+":"+scopes)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}
