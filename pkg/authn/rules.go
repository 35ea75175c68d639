package authn

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// wellKnownPublic are the infrastructure methods that are public although
// their protos carry no Gatehouse rule. They are named one by one: nothing
// is skipped by prefix.
var wellKnownPublic = []string{
	"/grpc.health.v1.Health/Check",
	"/grpc.health.v1.Health/Watch",
	"/grpc.health.v1.Health/List",
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
}

// WellKnownPublicMethods returns the gRPC health and reflection methods
// that every Rules treats as public unless given a rule of their own.
func WellKnownPublicMethods() []string { return slices.Clone(wellKnownPublic) }

// Rules maps gRPC full method names to their auth rules. It is immutable
// and safe for concurrent use.
type Rules struct {
	byMethod map[string]*rule
	scopes   []string
	missing  []string
}

// rule is an AuthRule prepared for the request path.
type rule struct {
	pb     *authv1.AuthRule
	public bool
	scopes []string
	// alternatives are other scope sets that authorize the call too.
	alternatives [][]string
	// scopeAttr is scopes joined by spaces: the RFC 6750 scope attribute.
	scopeAttr string
	// kinds is a bit set of accepted CredentialKinds; 0 accepts JWTs and API keys.
	kinds uint32
	// senderConstrained refuses credentials that work for whoever holds
	// them: bearer tokens and API keys.
	senderConstrained bool
}

// allows reports whether a credential of kind k is accepted. A rule that
// lists no kind accepts tokens and API keys; the certificate alone is a
// credential only where a rule lists CREDENTIAL_KIND_MTLS.
func (r *rule) allows(k authv1.CredentialKind) bool {
	if r.kinds == 0 {
		return k == authv1.CredentialKind_CREDENTIAL_KIND_JWT || k == authv1.CredentialKind_CREDENTIAL_KIND_API_KEY
	}
	return k > 0 && k < 32 && r.kinds&(1<<uint(k)) != 0
}

// acceptsCertAlone reports whether the rule lists CREDENTIAL_KIND_MTLS.
func (r *rule) acceptsCertAlone() bool {
	return r.kinds&(1<<uint(authv1.CredentialKind_CREDENTIAL_KIND_MTLS)) != 0
}

// ScopeSets are the ways rule grants access by scope: its scopes, then
// each of its alternative sets. A caller needs every scope of one set.
func ScopeSets(rule *authv1.AuthRule) [][]string {
	sets := [][]string{rule.GetScopes()}
	for _, alt := range rule.GetAlternativeScopes() {
		sets = append(sets, alt.GetScopes())
	}
	return sets
}

// NewRules builds Rules from a map of gRPC full method name
// ("/pkg.Service/Method") to rule, for tests and for services whose protos
// do not carry the option. The well-known health and reflection methods
// are added as public unless the map names them.
func NewRules(rules map[string]*authv1.AuthRule) (*Rules, error) {
	b := newRulesBuilder()
	for method, r := range rules {
		b.add(method, r)
	}
	return b.build()
}

// RulesFromFiles reads the rule of every method of every service in files
// (protoregistry.GlobalFiles in production: import the generated packages
// of the services you serve). A method without the option gets no rule and
// is refused; Missing lists such methods.
func RulesFromFiles(files *protoregistry.Files) (*Rules, error) {
	if files == nil {
		return nil, errors.New("authn: nil protoregistry.Files")
	}
	b := newRulesBuilder()
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		svcs := fd.Services()
		for i := range svcs.Len() {
			b.addService(svcs.Get(i))
		}
		return true
	})
	return b.build()
}

// RulesFromServices is RulesFromFiles for the given services only.
func RulesFromServices(services ...protoreflect.ServiceDescriptor) (*Rules, error) {
	b := newRulesBuilder()
	for _, sd := range services {
		if sd == nil {
			b.errs = append(b.errs, errors.New("authn: nil service descriptor"))
			continue
		}
		b.addService(sd)
	}
	return b.build()
}

// Lookup returns the rule of a gRPC full method name. The rule is shared:
// do not modify it.
func (r *Rules) Lookup(fullMethod string) (*authv1.AuthRule, bool) {
	ru := r.lookup(fullMethod)
	if ru == nil {
		return nil, false
	}
	return ru.pb, true
}

func (r *Rules) lookup(fullMethod string) *rule {
	if r == nil {
		return nil
	}
	return r.byMethod[fullMethod]
}

// Scopes returns every scope named by any rule, sorted and without
// duplicates. The client registry seeds its scope catalogue with them.
func (r *Rules) Scopes() []string {
	if r == nil {
		return nil
	}
	return slices.Clone(r.scopes)
}

// Missing returns the methods found in the descriptors without a rule,
// sorted. They are refused with PermissionDenied; a service can log them
// (or refuse to start) at startup.
func (r *Rules) Missing() []string {
	if r == nil {
		return nil
	}
	return slices.Clone(r.missing)
}

type rulesBuilder struct {
	byMethod map[string]*rule
	missing  []string
	errs     []error
}

func newRulesBuilder() *rulesBuilder {
	return &rulesBuilder{byMethod: map[string]*rule{}}
}

func (b *rulesBuilder) addService(sd protoreflect.ServiceDescriptor) {
	methods := sd.Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		b.addMethod("/"+string(sd.FullName())+"/"+string(md.Name()), md)
	}
}

// addMethod adds the rule option of md, or notes full as missing.
func (b *rulesBuilder) addMethod(full string, md protoreflect.MethodDescriptor) {
	opts := md.Options()
	if opts == nil || !proto.HasExtension(opts, authv1.E_Rule) {
		b.missing = append(b.missing, full)
		return
	}
	r, _ := proto.GetExtension(opts, authv1.E_Rule).(*authv1.AuthRule)
	b.add(full, r)
}

func (b *rulesBuilder) add(method string, r *authv1.AuthRule) {
	if err := validMethodName(method); err != nil {
		b.errs = append(b.errs, err)
		return
	}
	if _, dup := b.byMethod[method]; dup {
		b.errs = append(b.errs, fmt.Errorf("authn: %s: two rules", method))
		return
	}
	ru, err := compileRule(r)
	if err != nil {
		b.errs = append(b.errs, fmt.Errorf("authn: %s: %w", method, err))
		return
	}
	b.byMethod[method] = ru
}

func (b *rulesBuilder) build() (*Rules, error) {
	for _, m := range wellKnownPublic {
		if _, ok := b.byMethod[m]; !ok {
			b.byMethod[m] = &rule{pb: &authv1.AuthRule{Public: true}, public: true}
		}
	}
	if err := errors.Join(b.errs...); err != nil {
		return nil, err
	}
	var scopes []string
	for _, r := range b.byMethod {
		scopes = append(scopes, r.scopes...)
		for _, alt := range r.alternatives {
			scopes = append(scopes, alt...)
		}
	}
	slices.Sort(scopes)
	missing := slices.DeleteFunc(b.missing, func(m string) bool { return b.byMethod[m] != nil })
	slices.Sort(missing)
	return &Rules{byMethod: b.byMethod, scopes: slices.Compact(scopes), missing: missing}, nil
}

// compileRule validates r and prepares it for the request path.
func compileRule(r *authv1.AuthRule) (*rule, error) {
	if r == nil {
		return nil, errors.New("nil rule")
	}
	if r.GetPublic() {
		if len(r.GetScopes()) > 0 || len(r.GetCredentials()) > 0 || len(r.GetAlternativeScopes()) > 0 || r.GetRequireSenderConstrained() {
			return nil, errors.New("a public rule cannot name scopes or credentials")
		}
		return &rule{pb: proto.CloneOf(r), public: true}, nil
	}
	ru := &rule{pb: proto.CloneOf(r), senderConstrained: r.GetRequireSenderConstrained()}
	for _, s := range r.GetScopes() {
		if !validScope(s) {
			return nil, fmt.Errorf("invalid scope %q (RFC 6749 §3.3 scope-token)", s)
		}
		if !slices.Contains(ru.scopes, s) {
			ru.scopes = append(ru.scopes, s)
		}
	}
	ru.scopeAttr = strings.Join(ru.scopes, " ")
	for _, set := range r.GetAlternativeScopes() {
		if len(set.GetScopes()) == 0 {
			return nil, errors.New("an empty alternative scope set would authorize anyone")
		}
		var alt []string
		for _, s := range set.GetScopes() {
			if !validScope(s) {
				return nil, fmt.Errorf("invalid alternative scope %q (RFC 6749 §3.3 scope-token)", s)
			}
			if !slices.Contains(alt, s) {
				alt = append(alt, s)
			}
		}
		ru.alternatives = append(ru.alternatives, alt)
	}
	if len(ru.alternatives) > 0 && len(ru.scopes) == 0 {
		return nil, errors.New("alternative scopes need scopes: without, any caller is authorized already")
	}
	if ru.senderConstrained && len(r.GetCredentials()) == 1 && r.GetCredentials()[0] == authv1.CredentialKind_CREDENTIAL_KIND_API_KEY {
		return nil, errors.New("require_sender_constrained with API keys only would refuse every caller")
	}
	for _, k := range r.GetCredentials() {
		switch k {
		case authv1.CredentialKind_CREDENTIAL_KIND_JWT,
			authv1.CredentialKind_CREDENTIAL_KIND_API_KEY,
			authv1.CredentialKind_CREDENTIAL_KIND_MTLS:
			ru.kinds |= 1 << uint(k)
		default:
			return nil, fmt.Errorf("invalid credential kind %v", k)
		}
	}
	return ru, nil
}

// validMethodName accepts "/pkg.Service/Method".
func validMethodName(m string) error {
	svc, method, ok := strings.Cut(strings.TrimPrefix(m, "/"), "/")
	if !strings.HasPrefix(m, "/") || !ok || svc == "" || method == "" || strings.Contains(method, "/") {
		return fmt.Errorf("authn: %q is not a gRPC full method name /pkg.Service/Method", m)
	}
	return nil
}

// validScope checks RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
// Such a scope is also safe inside a quoted WWW-Authenticate attribute.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// constrains reports whether p's credential is sender-constrained, as
// the rule may require: the Validator has checked by now that a
// certificate-bound token came with its certificate and a DPoP-bound one
// with a proof by its key, and a certificate presented alone is its own
// proof of possession.
func (r *rule) constrains(p *Principal, kind authv1.CredentialKind) bool {
	if !r.senderConstrained {
		return true
	}
	switch kind {
	case authv1.CredentialKind_CREDENTIAL_KIND_MTLS:
		return true
	case authv1.CredentialKind_CREDENTIAL_KIND_JWT:
		return p.CertThumbprint != "" || p.DPoPJKT != ""
	default:
		return false
	}
}

// grants reports whether p holds every scope of the rule, or every scope of
// one of its alternative sets; first is the index of the first of the
// rule's own scopes p lacks (for the refusal).
func (r *rule) grants(p *Principal) (first int, ok bool) {
	first = -1
	for i, s := range r.scopes {
		if !p.HasScope(s) {
			first = i
			break
		}
	}
	if first < 0 {
		return 0, true
	}
	for _, alt := range r.alternatives {
		if slices.ContainsFunc(alt, func(s string) bool { return !p.HasScope(s) }) {
			continue
		}
		return 0, true
	}
	return first, false
}
