package openapigen

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/getkin/kin-openapi/openapi2"
)

// RuleSource finds the auth rule of a gRPC method (authn.Rules).
type RuleSource interface {
	Lookup(fullMethod string) (*authv1.AuthRule, bool)
}

// Info is what the documents say of themselves.
type Info struct {
	Title       string
	Description string
	// Version is the release: the version of the gen module the server is
	// built with.
	Version string
	// TokenURL and AuthorizationURL are the OAuth 2.0 endpoints, relative
	// to the server.
	TokenURL         string
	AuthorizationURL string
	// ScopeDescription describes a scope for the Bearer scheme.
	ScopeDescription func(string) string
}

// Operation is a REST operation of the document and the rule of its RPC.
type Operation struct {
	Route
	ID   string
	Rule *authv1.AuthRule
}

// rpcStatus is the error body of the gateway (google.rpc.Status), which
// protoc-gen-openapiv2 defines for the default response.
const rpcStatusRef = "#/definitions/rpcStatus"

// DecorateV2 gives doc (protoc-gen-openapiv2's output) its info, the
// security definitions, each operation's security from its RPC's rule and
// the error responses the gateway answers with. Every route must match
// exactly one operation and every operation a route, so that no operation
// goes out without the security of its rule. It returns the operations.
func DecorateV2(doc *openapi2.T, info Info, routes []Route, rules RuleSource) ([]Operation, error) {
	doc.Info.Title, doc.Info.Description, doc.Info.Version = info.Title, info.Description, info.Version
	ops, err := matchRoutes(doc, routes, rules)
	if err != nil {
		return nil, err
	}
	scopes := map[string]string{}
	for _, op := range ops {
		reqs, err := Requirements(op.Rule)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.Selector, err)
		}
		v2, err := ForOpenAPI2(reqs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.Selector, err)
		}
		for _, r := range v2 {
			for _, s := range r[SchemeBearer] {
				scopes[s] = info.ScopeDescription(s)
			}
		}
		o := doc.Paths[op.Path].GetOperation(op.Method)
		sec := openapi2.SecurityRequirements(toMaps(v2))
		o.Security = &sec
		addErrorResponses(o, op.Rule.GetPublic())
	}
	doc.SecurityDefinitions = map[string]*openapi2.SecurityScheme{
		SchemeBearer: {
			Type: "oauth2",
			Description: "A JWT access token (RFC 9068) in `Authorization: Bearer`, issued by the token endpoint; " +
				"the operation needs the scopes listed.",
			Flow:     "application",
			TokenURL: info.TokenURL,
			Scopes:   scopes,
		},
		SchemeAPIKey: {
			Type: "apiKey",
			Description: "A Gatehouse API key in `X-API-Key`, or in `Authorization: ApiKey <key>`; " +
				"the key must grant the scopes the Bearer requirement of the operation lists.",
			In:   "header",
			Name: "X-API-Key",
		},
	}
	return ops, nil
}

// matchRoutes pairs every route with its operation and rule.
func matchRoutes(doc *openapi2.T, routes []Route, rules RuleSource) ([]Operation, error) {
	byShape := map[string]string{}
	for p := range doc.Paths {
		if other, dup := byShape[pathShape(p)]; dup {
			return nil, fmt.Errorf("paths %s and %s are one path with different parameter names", p, other)
		}
		byShape[pathShape(p)] = p
	}
	seen := map[*openapi2.Operation]bool{}
	var ops []Operation
	var errs []error
	for _, r := range routes {
		p, ok := byShape[pathShape(r.Path)]
		var o *openapi2.Operation
		if ok {
			o = doc.Paths[p].GetOperation(r.Method)
		}
		if o == nil {
			errs = append(errs, fmt.Errorf("route %s %s (%s) has no operation in the document", r.Method, r.Path, r.Selector))
			continue
		}
		rule, ok := rules.Lookup(r.FullMethod())
		if !ok {
			errs = append(errs, fmt.Errorf("route %s %s: %s has no auth rule", r.Method, r.Path, r.Selector))
			continue
		}
		seen[o] = true
		ops = append(ops, Operation{Route: Route{Selector: r.Selector, Method: r.Method, Path: p}, ID: o.OperationID, Rule: rule})
	}
	for p, item := range doc.Paths {
		for m, o := range item.Operations() {
			if !seen[o] {
				errs = append(errs, fmt.Errorf("operation %s %s matches no gateway route", m, p))
			}
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return ops, errors.Join(errs...)
}

// addErrorResponses adds the errors the facade answers an operation with,
// besides the default one: 401 and 403 from the authorization of a secured
// operation, 400 from a request the gateway or service finds invalid, and
// 404 from a resource named in the path that does not exist. Their body is
// the gateway's google.rpc.Status.
func addErrorResponses(o *openapi2.Operation, public bool) {
	add := func(code int, desc string) {
		if o.Responses.Value(fmt.Sprint(code)) == nil {
			o.Responses.Set(fmt.Sprint(code), &openapi2.Response{
				Description: desc,
				Schema:      &openapi2.SchemaRef{Ref: rpcStatusRef},
			})
		}
	}
	if len(o.Parameters) > 0 {
		add(http.StatusBadRequest, "The request is invalid (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE).")
	}
	if !public {
		add(http.StatusUnauthorized, "No valid credential (UNAUTHENTICATED); WWW-Authenticate names the scheme.")
		add(http.StatusForbidden, "The credential lacks a scope or kind the operation needs (PERMISSION_DENIED).")
	}
	if slices.ContainsFunc(o.Parameters, func(p *openapi2.Parameter) bool { return p.In == "path" }) {
		add(http.StatusNotFound, "The resource named in the path does not exist (NOT_FOUND).")
	}
}

func toMaps(reqs []Requirement) []map[string][]string {
	out := make([]map[string][]string, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, map[string][]string(r))
	}
	return out
}
