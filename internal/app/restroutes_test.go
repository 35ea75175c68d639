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
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// restRoute is one REST route of the facade: an HTTP rule of a method the
// gRPC server serves.
type restRoute struct {
	method     string // full gRPC method name
	verb, path string
}

// restRoutes lists the HTTP rules (additional bindings included) of every
// method registered on a's gRPC server, which are all the routes its
// gateways can have, with a value in every path variable.
func restRoutes(t *testing.T, a *App) []restRoute {
	t.Helper()
	var routes []restRoute
	for full := range a.grpcReg.methods {
		name := protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(full, "/"), "/", "."))
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if err != nil {
			t.Fatalf("%s: %v", full, err)
		}
		rule, _ := proto.GetExtension(d.(protoreflect.MethodDescriptor).Options(), annotations.E_Http).(*annotations.HttpRule)
		if rule == nil {
			continue
		}
		for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
			verb, tmpl := httpPattern(r)
			if tmpl == "" {
				t.Fatalf("%s: an HTTP rule without a pattern", full)
			}
			routes = append(routes, restRoute{method: full, verb: verb, path: fillPath(tmpl)})
		}
	}
	slices.SortFunc(routes, func(x, y restRoute) int { return strings.Compare(x.verb+x.path, y.verb+y.path) })
	return routes
}

func httpPattern(r *annotations.HttpRule) (verb, tmpl string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	case *annotations.HttpRule_Custom:
		return p.Custom.GetKind(), p.Custom.GetPath()
	}
	return "", ""
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
