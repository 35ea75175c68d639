package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// restRoute is one REST route of the facade.
type restRoute struct {
	method     string // full gRPC method name
	verb, path string
}

// httpRule is a rule of the gateway's HTTP configuration, from which
// protoc-gen-grpc-gateway makes every route (unbound methods get none).
type httpRule struct {
	Selector           string     `yaml:"selector"`
	Get                string     `yaml:"get"`
	Post               string     `yaml:"post"`
	Put                string     `yaml:"put"`
	Patch              string     `yaml:"patch"`
	Delete             string     `yaml:"delete"`
	AdditionalBindings []httpRule `yaml:"additional_bindings"`
}

// restRoutes lists the routes of every method registered on a's gRPC
// server, which are all the routes its gateways can have, with a value in
// every path variable.
func restRoutes(t *testing.T, a *App) []restRoute {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "proto", "gatehouse", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		HTTP struct {
			Rules []httpRule `yaml:"rules"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var routes []restRoute
	for _, rule := range cfg.HTTP.Rules {
		i := strings.LastIndex(rule.Selector, ".")
		method := "/" + rule.Selector[:i] + "/" + rule.Selector[i+1:]
		if _, ok := a.grpcReg.methods[method]; !ok {
			continue
		}
		for _, r := range append([]httpRule{rule}, rule.AdditionalBindings...) {
			var n int
			for verb, tmpl := range map[string]string{http.MethodGet: r.Get, http.MethodPost: r.Post, http.MethodPut: r.Put, http.MethodPatch: r.Patch, http.MethodDelete: r.Delete} {
				if tmpl != "" {
					n++
					routes = append(routes, restRoute{method: method, verb: verb, path: fillPath(tmpl)})
				}
			}
			if n != 1 {
				t.Fatalf("%s: %d HTTP patterns in one binding", rule.Selector, n)
			}
		}
	}
	return routes
}

var pathVariable = regexp.MustCompile(`\{[^}=]+(=[^}]*)?\}`)

// fillPath puts a value in each variable of an HTTP rule's path template:
// {id} and {name=clients/*} become x and clients/x.
func fillPath(tmpl string) string {
	return pathVariable.ReplaceAllStringFunc(tmpl, func(v string) string {
		_, segs, ok := strings.Cut(strings.Trim(v, "{}"), "=")
		if !ok {
			return "x"
		}
		return strings.NewReplacer("**", "x", "*", "x").Replace(segs)
	})
}

// TestEveryRESTRouteRunsTheInterceptors calls every REST route of the
// public and the admin facade without a credential: each call must be
// counted by the gRPC server's interceptor chain (its metrics interceptor,
// in the same chain as the validator), and each one to a method that is
// not public refused there — 401 by the validator, or, on the public
// facade, 404 by the admin plane's guard for an admin-only method.
func TestEveryRESTRouteRunsTheInterceptors(t *testing.T) {
	a, _ := startApp(t, "--admin-addr", "127.0.0.1:0", "--example-inventory")
	rules, err := authn.RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	routes := restRoutes(t, a)
	if len(routes) < 20 {
		t.Fatalf("only %d REST routes found", len(routes))
	}
	caPEM, err := os.ReadFile(filepath.Join(a.cfg.DataDir, AdminCAFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in the admin CA file")
	}
	adminClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	defer adminClient.CloseIdleConnections()

	for _, facade := range []struct {
		name, base string
		client     *http.Client
		admin      bool
	}{
		{"public", "http://" + a.HTTPAddr(), http.DefaultClient, false},
		{"admin", "https://" + a.AdminAddr(), adminClient, true},
	} {
		t.Run(facade.name, func(t *testing.T) {
			before := scrape(t, a)
			calls := map[string]int{}
			for _, r := range routes {
				var body io.Reader
				if r.verb != http.MethodGet && r.verb != http.MethodDelete {
					body = strings.NewReader("{}")
				}
				req, err := http.NewRequestWithContext(context.Background(), r.verb, facade.base+r.path, body)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := facade.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				calls[r.method]++
				rule, _ := rules.Lookup(r.method)
				if rule.GetPublic() {
					continue
				}
				want := []int{http.StatusUnauthorized}
				if !facade.admin {
					want = append(want, http.StatusNotFound)
				}
				if !slices.Contains(want, resp.StatusCode) {
					t.Errorf("%s %s (%s) without a credential: %d, want one of %v: %s", r.verb, r.path, r.method, resp.StatusCode, want, b)
				}
			}
			after := scrape(t, a)
			for m, n := range calls {
				svc, name, _ := strings.Cut(strings.TrimPrefix(m, "/"), "/")
				series := `grpc_server_started_total{grpc_method="` + name + `",grpc_service="` + svc + `",grpc_type="unary"}`
				if got := sample(after, series) - sample(before, series); got != float64(n) {
					t.Errorf("%s: the interceptor chain saw %v of its %d REST calls", m, got, n)
				}
			}
		})
	}
}
