package openapigen

import (
	"errors"
	"fmt"
	"slices"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// The security schemes of the documents, one per credential kind.
const (
	// SchemeBearer is a JWT access token from the token endpoint, in
	// Authorization: Bearer (an OAuth 2.0 scheme, so that its scopes are
	// the RFC 6749 ones the token carries).
	SchemeBearer = "Bearer"
	// SchemeAPIKey is a Gatehouse API key, in X-API-Key or Authorization: ApiKey.
	SchemeAPIKey = "ApiKey"
	// SchemeMutualTLS is a client certificate alone (OpenAPI 3.1 only:
	// OpenAPI 2 has no such scheme); with SchemeBearer in one requirement,
	// the certificate a bound token was issued for (RFC 8705).
	SchemeMutualTLS = "MutualTLS"
	// SchemeDPoP is a DPoP-bound access token in Authorization: DPoP with
	// a proof in the DPoP header (RFC 9449; OpenAPI 3.1 only).
	SchemeDPoP = "DPoP"
)

// schemeOf is the scheme of each credential kind.
var schemeOf = map[authv1.CredentialKind]string{
	authv1.CredentialKind_CREDENTIAL_KIND_JWT:     SchemeBearer,
	authv1.CredentialKind_CREDENTIAL_KIND_API_KEY: SchemeAPIKey,
	authv1.CredentialKind_CREDENTIAL_KIND_MTLS:    SchemeMutualTLS,
}

// defaultKinds are the kinds a rule that lists none accepts (auth.proto).
var defaultKinds = []authv1.CredentialKind{
	authv1.CredentialKind_CREDENTIAL_KIND_JWT,
	authv1.CredentialKind_CREDENTIAL_KIND_API_KEY,
}

// Requirement is an OpenAPI security requirement: every scheme it names,
// each with the scopes the credential must carry.
type Requirement map[string][]string

// Requirements are the ways to satisfy rule, any one of which will do (an
// operation's security): one per credential kind the rule accepts and scope
// set it accepts (its scopes, or one of its alternative sets). A public
// rule has none; a non-public rule always has at least one.
func Requirements(rule *authv1.AuthRule) ([]Requirement, error) {
	if rule == nil {
		return nil, errors.New("no auth rule")
	}
	if rule.GetPublic() {
		return []Requirement{}, nil
	}
	sets := authn.ScopeSets(rule)
	kinds := rule.GetCredentials()
	if len(kinds) == 0 {
		kinds = defaultKinds
	}
	bound := rule.GetRequireSenderConstrained()
	var reqs []Requirement
	for _, k := range kinds {
		scheme, ok := schemeOf[k]
		if !ok {
			return nil, fmt.Errorf("credential kind %v has no security scheme", k)
		}
		for _, set := range sets {
			scopes := compactScopes(set)
			switch {
			case k == authv1.CredentialKind_CREDENTIAL_KIND_API_KEY && bound:
				// An API key is never sender-constrained.
			case k == authv1.CredentialKind_CREDENTIAL_KIND_JWT && bound:
				reqs = appendUnique(reqs, Requirement{SchemeDPoP: scopes})
				reqs = appendUnique(reqs, Requirement{SchemeBearer: scopes, SchemeMutualTLS: []string{}})
			case k == authv1.CredentialKind_CREDENTIAL_KIND_JWT:
				reqs = appendUnique(reqs, Requirement{SchemeBearer: scopes})
				reqs = appendUnique(reqs, Requirement{SchemeDPoP: scopes})
			default:
				reqs = appendUnique(reqs, Requirement{scheme: scopes})
			}
		}
	}
	return reqs, nil
}

// ForOpenAPI2 adapts requirements to OpenAPI 2, where only OAuth 2.0
// schemes list scopes and there is neither a mutual-TLS nor a DPoP scheme:
// an API key requirement keeps no scopes, a DPoP-bound token reads as a
// Bearer one, and the certificate alone is left out. It
// fails when that leaves nothing of a secured operation, which would read
// as public.
func ForOpenAPI2(reqs []Requirement) ([]Requirement, error) {
	out := []Requirement{}
	for _, r := range reqs {
		v2 := Requirement{}
		for scheme, scopes := range r {
			switch scheme {
			case SchemeBearer, SchemeDPoP:
				// OpenAPI 2 cannot say how a token is bound; it is an
				// OAuth 2.0 token all the same.
				v2[SchemeBearer] = scopes
			case SchemeAPIKey:
				v2[scheme] = []string{}
			}
		}
		if len(v2) > 0 {
			out = appendUnique(out, v2)
		}
	}
	if len(out) == 0 && len(reqs) > 0 {
		return nil, errors.New("the operation accepts only credentials OpenAPI 2 cannot describe")
	}
	return out, nil
}

// compactScopes is scopes without duplicates, never nil: an empty list
// still names the scheme.
func compactScopes(scopes []string) []string {
	out := []string{}
	for _, s := range scopes {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func appendUnique(reqs []Requirement, r Requirement) []Requirement {
	for _, have := range reqs {
		if sameRequirement(have, r) {
			return reqs
		}
	}
	return append(reqs, r)
}

func sameRequirement(a, b Requirement) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}
