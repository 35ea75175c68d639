package openapigen

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3conv"
)

// Version is the OpenAPI version of the published document.
// openapi3conv.Upgrade rewrites the 3.0 forms into the 3.1 ones and names
// the newest 3.x it knows; the document uses nothing past 3.1, and 3.1 is
// what the validators and generators in use read.
const Version = "3.1.1"

// oauthDescription is the hand-written description of the OAuth 2.0 and
// OpenID Connect endpoints.
//
//go:embed oauth.yaml
var oauthDescription []byte

// oidcScopes are the OpenID Connect scopes a user's token may carry
// besides the platform's.
var oidcScopes = []string{"openid", "profile", "email"}

// ToV31 converts the decorated v2 document to OpenAPI 3.1: each operation
// gets the security of its rule as 3.1 can say it (the scopes an API key
// must grant, the certificate alone), the Bearer scheme both of its flows,
// and the OAuth 2.0 and OpenID Connect endpoints are merged in.
func ToV31(ctx context.Context, doc2 *openapi2.T, ops []Operation, info Info) (*openapi3.T, error) {
	doc, err := openapi2conv.ToV3(doc2)
	if err != nil {
		return nil, fmt.Errorf("convert to OpenAPI 3: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("the converted OpenAPI 3.0 document: %w", err)
	}
	openapi3conv.Upgrade(doc)
	doc.OpenAPI = Version
	doc.Servers = openapi3.Servers{{URL: "/", Description: "The Gatehouse server that serves this document."}}
	for _, op := range ops {
		reqs, err := Requirements(op.Rule)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.Selector, err)
		}
		o := doc.Paths.Value(op.Path).GetOperation(op.Method)
		if o == nil {
			return nil, fmt.Errorf("%s %s is missing from the converted document", op.Method, op.Path)
		}
		sec := make(openapi3.SecurityRequirements, 0, len(reqs))
		for _, r := range reqs {
			sec = append(sec, openapi3.SecurityRequirement(r))
		}
		o.Security = &sec
	}
	setSchemes(doc, doc2, info)
	oauth, err := openapi3.NewLoader().LoadFromData(oauthDescription)
	if err != nil {
		return nil, fmt.Errorf("load oauth.yaml: %w", err)
	}
	if err := merge(doc, oauth); err != nil {
		return nil, fmt.Errorf("merge oauth.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("the OpenAPI 3.1 document: %w", err)
	}
	return doc, nil
}

// setSchemes replaces the converted schemes: 3.1 has a mutual-TLS scheme,
// and the Bearer tokens come from the authorization code flow too (users,
// with the OpenID Connect scopes), not only client credentials.
func setSchemes(doc *openapi3.T, doc2 *openapi2.T, info Info) {
	scopes := map[string]string{}
	if b := doc2.SecurityDefinitions[SchemeBearer]; b != nil {
		maps.Copy(scopes, b.Scopes)
	}
	userScopes := maps.Clone(scopes)
	for _, s := range oidcScopes {
		userScopes[s] = info.ScopeDescription(s)
	}
	if doc.Components == nil {
		doc.Components = &openapi3.Components{}
	}
	apiKey := doc2.SecurityDefinitions[SchemeAPIKey]
	doc.Components.SecuritySchemes = openapi3.SecuritySchemes{
		SchemeBearer: {Value: &openapi3.SecurityScheme{
			Type: "oauth2",
			Description: "A JWT access token (RFC 9068) in `Authorization: Bearer`, from the token endpoint; " +
				"the operation needs the scopes listed.",
			Flows: &openapi3.OAuthFlows{
				ClientCredentials: &openapi3.OAuthFlow{TokenURL: info.TokenURL, Scopes: scopes},
				AuthorizationCode: &openapi3.OAuthFlow{
					AuthorizationURL: info.AuthorizationURL, TokenURL: info.TokenURL,
					RefreshURL: info.TokenURL, Scopes: userScopes,
				},
			},
		}},
		SchemeAPIKey: {Value: &openapi3.SecurityScheme{
			Type: "apiKey", In: apiKey.In, Name: apiKey.Name,
			Description: "A Gatehouse API key in `X-API-Key`, or in `Authorization: ApiKey <key>`; " +
				"the key must grant the scopes listed.",
		}},
		SchemeDPoP: {Value: &openapi3.SecurityScheme{
			Type: "http", Scheme: "DPoP",
			Description: "A DPoP-bound access token (RFC 9449) in `Authorization: DPoP`, with a proof of its key in the `DPoP` header " +
				"(htm and htu of this request, ath of the token); the operation needs the scopes listed.",
		}},
		SchemeMutualTLS: {Value: &openapi3.SecurityScheme{
			Type: "mutualTLS",
			Description: "A client certificate Gatehouse issued (RFC 8705), alone, on the mutual-TLS listener; " +
				"the client must be registered for the scopes listed.",
		}},
	}
}

// merge adds from's paths, components and tags to doc, refusing to replace
// anything doc has.
func merge(doc, from *openapi3.T) error {
	var errs []error
	for p, item := range from.Paths.Map() {
		if doc.Paths.Value(p) != nil {
			errs = append(errs, fmt.Errorf("path %s is there already", p))
			continue
		}
		doc.Paths.Set(p, item)
	}
	if c := from.Components; c != nil {
		errs = append(errs,
			mergeMap("schema", &doc.Components.Schemas, c.Schemas),
			mergeMap("security scheme", &doc.Components.SecuritySchemes, c.SecuritySchemes),
			mergeMap("parameter", &doc.Components.Parameters, c.Parameters),
			mergeMap("response", &doc.Components.Responses, c.Responses),
			mergeMap("header", &doc.Components.Headers, c.Headers),
			mergeMap("request body", &doc.Components.RequestBodies, c.RequestBodies))
	}
	for _, t := range from.Tags {
		if doc.Tags.Get(t.Name) != nil {
			errs = append(errs, fmt.Errorf("tag %s is there already", t.Name))
			continue
		}
		doc.Tags = append(doc.Tags, t)
	}
	sort.SliceStable(doc.Tags, func(i, j int) bool { return doc.Tags[i].Name < doc.Tags[j].Name })
	return errors.Join(errs...)
}

func mergeMap[M ~map[string]V, V any](kind string, dst *M, src M) error {
	if *dst == nil {
		*dst = M{}
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(src)) {
		if _, ok := (*dst)[name]; ok {
			errs = append(errs, fmt.Errorf("%s %s is there already", kind, name))
			continue
		}
		(*dst)[name] = src[name]
	}
	return errors.Join(errs...)
}
