package openapigen

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Route is one REST route of the gateway: the RPC it calls and its HTTP
// method and path template.
type Route struct {
	// Selector is the RPC's full name, gatehouse.clients.v1.ClientRegistryService.GetClient.
	Selector string
	Method   string
	Path     string
}

// FullMethod is the RPC's gRPC method name, /pkg.Service/Method, by which
// the auth rules are looked up.
func (r Route) FullMethod() string {
	i := strings.LastIndexByte(r.Selector, '.')
	if i < 0 {
		return ""
	}
	return "/" + r.Selector[:i] + "/" + r.Selector[i+1:]
}

// serviceConfig is the part of a google.api.Service YAML (the
// grpc_api_configuration of the gateway plugins) that names the routes.
type serviceConfig struct {
	HTTP struct {
		Rules []map[string]string `yaml:"rules"`
	} `yaml:"http"`
}

// verbs are the rule keys that name an HTTP method.
var verbs = map[string]string{
	"get": http.MethodGet, "put": http.MethodPut, "post": http.MethodPost,
	"delete": http.MethodDelete, "patch": http.MethodPatch,
}

// ParseRoutes reads the routes of a google.api.Service YAML.
func ParseRoutes(b []byte) ([]Route, error) {
	var cfg serviceConfig
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("parse the gateway configuration: %w", err)
	}
	var routes []Route
	for i, rule := range cfg.HTTP.Rules {
		r := Route{Selector: rule["selector"]}
		for key, method := range verbs {
			if p, ok := rule[key]; ok {
				if r.Method != "" {
					return nil, fmt.Errorf("gateway rule %d (%s): more than one HTTP method", i, r.Selector)
				}
				r.Method, r.Path = method, p
			}
		}
		if r.Selector == "" || r.Method == "" || r.FullMethod() == "" {
			return nil, fmt.Errorf("gateway rule %d: selector and one HTTP method are required", i)
		}
		routes = append(routes, r)
	}
	return routes, nil
}

// variable is a path template variable: {name} or {name=pattern}.
var variable = regexp.MustCompile(`\{[^}]*\}`)

// pathShape is a path template with its variables' names removed: the
// document may name a variable otherwise than the gateway's template
// (path_param_name), but not move or add one.
func pathShape(path string) string {
	return variable.ReplaceAllString(path, "{}")
}
