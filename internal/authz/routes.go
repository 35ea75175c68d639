package authz

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"go.yaml.in/yaml/v3"
)

// methodPrefix is the synthetic gRPC service of the routes: route n of a
// file is the method methodPrefix+"line<L>", L its line, so that an audit
// record names the rule that refused.
const methodPrefix = "/gatehouse.authz.Routes/"

// unmatched is the method a request no route matches is checked as: it
// has no rule, so the validator refuses it and records the refusal.
const unmatched = methodPrefix + "unmatched"

// fileRoutes is the YAML document of a route-rules file.
type fileRoutes struct {
	Routes []fileRoute `yaml:"routes"`
}

// fileRoute is one entry of the file, as written.
type fileRoute struct {
	Methods              []string   `yaml:"methods"`
	Hosts                []string   `yaml:"hosts"`
	Path                 string     `yaml:"path"`
	Scopes               []string   `yaml:"scopes"`
	AlternativeScopes    [][]string `yaml:"alternative_scopes"`
	Credentials          []string   `yaml:"credentials"`
	Audience             string     `yaml:"audience"`
	AllowUnauthenticated bool       `yaml:"allow_unauthenticated"`
	// SenderConstrained takes DPoP-bound tokens with their proof, and
	// certificate-bound tokens with their certificate, only.
	SenderConstrained bool `yaml:"sender_constrained"`
}

// route is a compiled entry.
type route struct {
	method  string // synthetic gRPC method name
	methods []string
	hosts   []string
	// segments of the path pattern; "" for a {var} segment.
	segments []string
	prefix   bool
	// audience is the aud a bearer token must carry for this route;
	// empty: the process's --default-audience.
	audience string
}

// Routes is a compiled route-rules file: the routes in file order and the
// authn rules of their synthetic methods. It is immutable.
type Routes struct {
	routes []route
	rules  *authn.Rules
}

// credentialKinds are the names the file uses for authv1.CredentialKind.
var credentialKinds = map[string]authv1.CredentialKind{
	"bearer":  authv1.CredentialKind_CREDENTIAL_KIND_JWT,
	"jwt":     authv1.CredentialKind_CREDENTIAL_KIND_JWT,
	"api_key": authv1.CredentialKind_CREDENTIAL_KIND_API_KEY,
	"mtls":    authv1.CredentialKind_CREDENTIAL_KIND_MTLS,
}

// LoadRoutes reads and compiles a route-rules file. Every error names the
// file and the line of the entry at fault.
func LoadRoutes(path string) (*Routes, error) {
	b, err := os.ReadFile(path) //nolint:gosec // the operator names the routes file
	if err != nil {
		return nil, fmt.Errorf("authz routes: %w", err)
	}
	return ParseRoutes(path, b)
}

// ParseRoutes compiles the route-rules document b; name is the file name
// in errors.
func ParseRoutes(name string, b []byte) (*Routes, error) {
	fail := func(line int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fail(yamlErrLine(err), "not valid YAML: %s", yamlErrText(err))
	}
	// A misspelt key (scope: for scopes:) is an error, not a route
	// without scopes.
	var f fileRoutes
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fail(yamlErrLine(err), "%s", yamlErrText(err))
	}
	lines := routeLines(&doc)
	if len(f.Routes) == 0 || len(lines) != len(f.Routes) {
		return nil, fail(1, "no routes: every request would be refused")
	}
	out := &Routes{}
	byMethod := make(map[string]*authv1.AuthRule, len(f.Routes))
	for i, fr := range f.Routes {
		line := lines[i]
		r, rule, err := compileRoute(fr, line)
		if err != nil {
			return nil, fail(line, "%v", err)
		}
		// Checked by the validator's own compiler, so that the file can
		// state nothing the proto options could not.
		if _, err := authn.NewRules(map[string]*authv1.AuthRule{r.method: rule}); err != nil {
			return nil, fail(line, "%s", strings.TrimPrefix(err.Error(), "authn: "+r.method+": "))
		}
		byMethod[r.method] = rule
		out.routes = append(out.routes, r)
	}
	rules, err := authn.NewRules(byMethod)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out.rules = rules
	return out, nil
}

// routeLines returns the line of each entry of the routes sequence.
func routeLines(doc *yaml.Node) []int {
	var lines []int
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "routes" {
			for _, n := range root.Content[i+1].Content {
				lines = append(lines, n.Line)
			}
		}
	}
	return lines
}

func compileRoute(fr fileRoute, line int) (route, *authv1.AuthRule, error) {
	r := route{method: methodPrefix + "line" + strconv.Itoa(line)}
	for _, m := range fr.Methods {
		if !validToken(m) || strings.ToUpper(m) != m {
			return r, nil, fmt.Errorf("method %q is not an upper-case HTTP method", m)
		}
		r.methods = append(r.methods, m)
	}
	if len(r.methods) == 0 {
		return r, nil, errors.New("methods: at least one (GET, POST, ...)")
	}
	if slices.Contains(r.methods, http.MethodGet) && !slices.Contains(r.methods, http.MethodHead) {
		// A HEAD answers what a GET would: the same rule.
		r.methods = append(r.methods, http.MethodHead)
	}
	for _, h := range fr.Hosts {
		if h == "" || strings.ContainsAny(h, "/ ") {
			return r, nil, fmt.Errorf("host %q is not a host name", h)
		}
		r.hosts = append(r.hosts, strings.ToLower(h))
	}
	segs, prefix, err := compilePath(fr.Path)
	if err != nil {
		return r, nil, err
	}
	r.segments, r.prefix = segs, prefix
	rule := &authv1.AuthRule{Public: fr.AllowUnauthenticated, Scopes: fr.Scopes, RequireSenderConstrained: fr.SenderConstrained}
	for _, set := range fr.AlternativeScopes {
		rule.AlternativeScopes = append(rule.AlternativeScopes, &authv1.ScopeSet{Scopes: set})
	}
	for _, c := range fr.Credentials {
		k, ok := credentialKinds[c]
		if !ok {
			return r, nil, fmt.Errorf("credential %q: one of bearer, api_key, mtls", c)
		}
		rule.Credentials = append(rule.Credentials, k)
	}
	if fr.Audience != "" {
		if fr.AllowUnauthenticated {
			return r, nil, errors.New("a public route cannot name an audience")
		}
		if strings.ContainsAny(fr.Audience, " \t\r\n\"") {
			return r, nil, fmt.Errorf("audience %q is not a URI or name", fr.Audience)
		}
		r.audience = fr.Audience
	}
	if !fr.AllowUnauthenticated && len(fr.Scopes) == 0 {
		// Any valid credential of any client would do: say so explicitly.
		return r, nil, errors.New("no scopes: name the scopes the route needs, or allow_unauthenticated: true")
	}
	return r, rule, nil
}

// compilePath splits a pattern: "/a/b" exact, "/a/{id}/c" with one-segment
// variables, "/a/**" the prefix /a and everything under it.
func compilePath(p string) (segs []string, prefix bool, err error) {
	if !strings.HasPrefix(p, "/") {
		return nil, false, fmt.Errorf("path %q must start with /", p)
	}
	if p == "/" {
		return nil, false, nil
	}
	if rest, ok := strings.CutSuffix(p, "/**"); ok {
		p, prefix = rest, true
		if p == "" {
			return nil, true, nil
		}
	}
	for _, s := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		switch {
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && len(s) > 2:
			segs = append(segs, "")
		case s == "":
			return nil, false, fmt.Errorf("path %q has an empty segment", p)
		case s == "." || s == ".." || strings.ContainsAny(s, "{}*?#%"):
			return nil, false, fmt.Errorf("path %q: segment %q is not a literal, {name} or a final /**", p, s)
		default:
			segs = append(segs, s)
		}
	}
	return segs, prefix, nil
}

// validToken reports whether s is an RFC 9110 token (a method name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// audiences returns the audiences the routes name, each once.
func (rs *Routes) audiences() []string {
	var out []string
	for _, r := range rs.routes {
		if r.audience != "" && !slices.Contains(out, r.audience) {
			out = append(out, r.audience)
		}
	}
	return out
}

// match returns the first route matching the request, or nil. path is
// clean and decoded; host lower-case without port.
func (rs *Routes) match(method, host, path string) *route {
	for i := range rs.routes {
		r := &rs.routes[i]
		if !slices.Contains(r.methods, method) {
			continue
		}
		if len(r.hosts) > 0 && !slices.Contains(r.hosts, host) {
			continue
		}
		if r.matchPath(path) {
			return r
		}
	}
	return nil
}

func (r *route) matchPath(path string) bool {
	rest := strings.TrimPrefix(path, "/")
	for i, want := range r.segments {
		seg, tail, more := strings.Cut(rest, "/")
		if want == "" {
			if seg == "" {
				return false
			}
		} else if seg != want {
			return false
		}
		if i == len(r.segments)-1 {
			if r.prefix {
				return true
			}
			return !more
		}
		if !more {
			return false
		}
		rest = tail
	}
	// "/" exactly, or "/**".
	return r.prefix || rest == ""
}

// yamlErrLine and yamlErrText pick the line out of a yaml.v3 error
// ("yaml: line 3: ..."); line 1 when it names none.
func yamlErrLine(err error) int {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if _, after, ok := strings.Cut(msg, "line "); ok {
		n := 0
		for _, c := range after {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		if n > 0 {
			return n
		}
	}
	return 1
}

func yamlErrText(err error) string {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if i := strings.Index(msg, "line "); i == 0 {
		if _, after, ok := strings.Cut(msg, ": "); ok {
			msg = after
		}
	}
	return msg
}
