package authn

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// The credential kinds, for Accept.
const (
	// JWT is an access token from Gatehouse (Authorization: Bearer).
	JWT = authv1.CredentialKind_CREDENTIAL_KIND_JWT
	// APIKey is an API key (X-API-Key, or Authorization: ApiKey).
	APIKey = authv1.CredentialKind_CREDENTIAL_KIND_API_KEY
	// MTLS is a client certificate alone, without a token.
	MTLS = authv1.CredentialKind_CREDENTIAL_KIND_MTLS
)

// Scopes is the rule of a method that needs every one of scopes, from a
// JWT or an API key (Accept changes the kinds).
func Scopes(scopes ...string) *authv1.AuthRule {
	return &authv1.AuthRule{Scopes: slices.Clone(scopes)}
}

// AnyOf is the rule of a method that any one of the scope sets authorizes,
// e.g. AnyOf([]string{"orders:read"}, []string{"orders:admin"}). The first
// set is the one a refusal names (RFC 6750 scope attribute).
func AnyOf(first []string, alternatives ...[]string) *authv1.AuthRule {
	r := Scopes(first...)
	for _, alt := range alternatives {
		r.AlternativeScopes = append(r.AlternativeScopes, &authv1.ScopeSet{Scopes: slices.Clone(alt)})
	}
	return r
}

// Public is the rule of a method anyone may call, without a credential.
// It must be written out: a method without a rule is refused, never
// public by omission. The validator logs the public methods it serves at
// Check.
func Public() *authv1.AuthRule { return &authv1.AuthRule{Public: true} }

// Accept returns a copy of r that accepts exactly the credential kinds
// given, e.g. Accept(Scopes("orders:read"), JWT, MTLS). Without Accept a
// rule takes JWTs and API keys.
func Accept(r *authv1.AuthRule, kinds ...authv1.CredentialKind) *authv1.AuthRule {
	c := proto.CloneOf(r)
	c.Credentials = slices.Clone(kinds)
	return c
}

// ServiceInfoProvider is what Check and RulesFromServer need of a server:
// *grpc.Server implements it.
type ServiceInfoProvider interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}

// RulesFromDescriptors reads the rule option (gatehouse.auth.v1.rule) of
// every method of the given services: another team's protos declare rules
// the same way Gatehouse's do, by importing gatehouse/auth/v1/auth.proto.
func RulesFromDescriptors(services ...protoreflect.ServiceDescriptor) (*Rules, error) {
	return RulesFromServices(services...)
}

// RulesFromServer builds the rules of every service registered on srv:
// each method's rule option, read from its descriptor in
// protoregistry.GlobalFiles, or its entry in extra (full method name to
// rule: for protos that carry no option, and to override one). It fails
// when a registered method has neither, so a method added without a rule
// stops the service at start instead of being refused at run time.
func RulesFromServer(srv ServiceInfoProvider, extra map[string]*authv1.AuthRule) (*Rules, error) {
	b := newRulesBuilder()
	for _, name := range slices.Sorted(maps.Keys(srv.GetServiceInfo())) {
		info := srv.GetServiceInfo()[name]
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if err != nil || !ok {
			// A service without a registered descriptor: its rules come
			// from extra alone.
			for _, m := range info.Methods {
				full := "/" + name + "/" + m.Name
				if _, ok := extra[full]; !ok {
					b.missing = append(b.missing, full)
				}
			}
			continue
		}
		methods := sd.Methods()
		for i := range methods.Len() {
			full := "/" + name + "/" + string(methods.Get(i).Name())
			if _, ok := extra[full]; ok {
				continue
			}
			b.addMethod(full, methods.Get(i))
		}
	}
	for method, r := range extra {
		b.add(method, r)
	}
	rules, err := b.build()
	if err != nil {
		return nil, err
	}
	if err := rules.Check(srv); err != nil {
		return nil, err
	}
	return rules, nil
}

// Check fails when a method registered on srv has no rule, naming every
// such method. Call it after registering the services and before Serve.
func (r *Rules) Check(srv ServiceInfoProvider) error {
	var missing []string
	for name, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			if r.lookup(full) == nil {
				missing = append(missing, full)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return fmt.Errorf("authn: %d registered method(s) without an auth rule: %s", len(missing), strings.Join(missing, ", "))
}

// Public returns the methods whose rule is public, sorted, for a service
// to log at start: a public method should be a decision someone reads.
func (r *Rules) Public() []string {
	if r == nil {
		return nil
	}
	var out []string
	for m, ru := range r.byMethod {
		if ru.public && !slices.Contains(wellKnownPublic, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// RequireScopes is HTTPMiddleware for plain handlers: it wraps next so
// that only a JWT or API key with every one of scopes reaches it, e.g.
// mux.Handle("GET /orders", v.RequireScopes("orders:read")(list)).
func (v *Validator) RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	return v.Require(Scopes(scopes...))
}

// Require is HTTPMiddleware as a middleware constructor, for any rule
// (AnyOf, Accept, Public).
func (v *Validator) Require(rule *authv1.AuthRule) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return v.HTTPMiddleware(rule, next) }
}
