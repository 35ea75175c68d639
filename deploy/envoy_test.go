package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// The typed configs the file names must be registered to be parsed.
var _ = []any{(*routerv3.Router)(nil), (*upstreamhttpv3.HttpProtocolOptions)(nil)}

// TestEnvoyConfig parses deploy/envoy/envoy.yaml into Envoy's own
// bootstrap type, runs its generated validation, and checks what the
// Gatehouse integration depends on: ext_authz before the router, failing
// closed with a bounded timeout, raw headers, and an HTTP/2 cluster for
// the Authorization service (checklist item 99).
func TestEnvoyConfig(t *testing.T) {
	b, err := os.ReadFile("envoy/envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var boot bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(js, &boot); err != nil {
		t.Fatalf("envoy/envoy.yaml is not an Envoy v3 bootstrap: %v", err)
	}
	if err := boot.ValidateAll(); err != nil {
		t.Fatalf("envoy/envoy.yaml: %v", err)
	}
	clusters := map[string]*clusterv3.Cluster{}
	for _, c := range boot.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = c
	}
	listeners := boot.GetStaticResources().GetListeners()
	if len(listeners) == 0 {
		t.Fatal("no listener")
	}
	for _, l := range listeners {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
					t.Fatalf("listener %s: filter %s: %v", l.GetName(), f.GetName(), err)
				}
				checkHCM(t, l.GetName(), &hcm, clusters)
			}
		}
	}
}

func checkHCM(t *testing.T, listener string, hcm *hcmv3.HttpConnectionManager, clusters map[string]*clusterv3.Cluster) {
	t.Helper()
	names := []string{}
	var authz *extauthzv3.ExtAuthz
	for _, f := range hcm.GetHttpFilters() {
		names = append(names, f.GetName())
		if f.GetName() != "envoy.filters.http.ext_authz" {
			continue
		}
		authz = &extauthzv3.ExtAuthz{}
		if err := f.GetTypedConfig().UnmarshalTo(authz); err != nil {
			t.Fatalf("listener %s: ext_authz: %v", listener, err)
		}
	}
	if authz == nil {
		t.Fatalf("listener %s: no ext_authz filter (filters %v): its requests would not be checked", listener, names)
	}
	if i, j := slices.Index(names, "envoy.filters.http.ext_authz"), slices.Index(names, "envoy.filters.http.router"); j < i {
		t.Errorf("listener %s: the router comes before ext_authz: %v", listener, names)
	}
	if authz.GetFailureModeAllow() {
		t.Errorf("listener %s: failure_mode_allow: true lets requests through when Gatehouse is down", listener)
	}
	if authz.GetWithRequestBody() != nil {
		t.Errorf("listener %s: ext_authz buffers bodies Gatehouse never reads", listener)
	}
	if !authz.GetEncodeRawHeaders() {
		t.Errorf("listener %s: without encode_raw_headers two Authorization headers reach Gatehouse as one", listener)
	}
	if !hcm.GetNormalizePath().GetValue() || !hcm.GetMergeSlashes() {
		t.Errorf("listener %s: normalize_path and merge_slashes keep Envoy's path the one Gatehouse decides on", listener)
	}
	gs := authz.GetGrpcService()
	if d := gs.GetTimeout().AsDuration(); d <= 0 || d > 5*time.Second {
		t.Errorf("listener %s: ext_authz timeout %v, want a bound of at most 5s", listener, d)
	}
	c := clusters[gs.GetEnvoyGrpc().GetClusterName()]
	if c == nil {
		t.Fatalf("listener %s: ext_authz cluster %q is not defined", listener, gs.GetEnvoyGrpc().GetClusterName())
	}
	var up tlsv3.UpstreamTlsContext
	if ts := c.GetTransportSocket(); ts == nil || ts.GetTypedConfig().UnmarshalTo(&up) != nil {
		t.Errorf("cluster %s: no TLS to Gatehouse (--authz-tls)", c.GetName())
	} else {
		ctx := up.GetCommonTlsContext()
		if len(ctx.GetTlsCertificates()) == 0 {
			t.Errorf("cluster %s: no client certificate: --authz-tls requires one", c.GetName())
		}
		if ctx.GetValidationContext().GetTrustedCa() == nil {
			t.Errorf("cluster %s: Gatehouse's server certificate is not verified", c.GetName())
		}
	}
	any, ok := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	var opts upstreamhttpv3.HttpProtocolOptions
	if !ok || any.UnmarshalTo(&opts) != nil || opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Errorf("cluster %s: gRPC needs HTTP/2 (explicit_http_config.http2_protocol_options)", c.GetName())
	}
}

// TestIstioExtAuthz checks deploy/k8s/istio: the AuthorizationPolicy
// sends every request of its workload to an extension provider that is
// defined, is Gatehouse's gRPC ext_authz, and fails closed.
func TestIstioExtAuthz(t *testing.T) {
	b, err := os.ReadFile("k8s/istio/gatehouse-ext-authz.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type provider struct {
		Name              string `yaml:"name"`
		EnvoyExtAuthzGrpc *struct {
			Service  string `yaml:"service"`
			Port     int    `yaml:"port"`
			Timeout  string `yaml:"timeout"`
			FailOpen *bool  `yaml:"failOpen"`
		} `yaml:"envoyExtAuthzGrpc"`
	}
	type doc struct {
		Kind string `yaml:"kind"`
		Spec struct {
			MeshConfig struct {
				ExtensionProviders []provider `yaml:"extensionProviders"`
			} `yaml:"meshConfig"`
			Action   string                `yaml:"action"`
			Provider struct{ Name string } `yaml:"provider"`
			Rules    []map[string]any      `yaml:"rules"`
		} `yaml:"spec"`
	}
	providers := map[string]provider{}
	var policies []doc
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d doc
		if err := dec.Decode(&d); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		for _, p := range d.Spec.MeshConfig.ExtensionProviders {
			providers[p.Name] = p
		}
		if d.Kind == "AuthorizationPolicy" {
			policies = append(policies, d)
		}
	}
	if len(policies) == 0 {
		t.Fatal("no AuthorizationPolicy")
	}
	for _, pol := range policies {
		if pol.Spec.Action != "CUSTOM" || len(pol.Spec.Rules) == 0 {
			t.Errorf("policy: action %q with %d rules; want CUSTOM with a rule matching the requests", pol.Spec.Action, len(pol.Spec.Rules))
		}
		p, ok := providers[pol.Spec.Provider.Name]
		if !ok || p.EnvoyExtAuthzGrpc == nil {
			t.Fatalf("policy names provider %q, which is not a defined envoyExtAuthzGrpc provider", pol.Spec.Provider.Name)
		}
		g := p.EnvoyExtAuthzGrpc
		if g.FailOpen == nil || *g.FailOpen {
			t.Errorf("provider %s: failOpen must be set to false", p.Name)
		}
		if d, err := time.ParseDuration(g.Timeout); err != nil || d <= 0 || d > 5*time.Second {
			t.Errorf("provider %s: timeout %q, want a bound of at most 5s", p.Name, g.Timeout)
		}
		if g.Service == "" || g.Port == 0 {
			t.Errorf("provider %s: service %q port %d", p.Name, g.Service, g.Port)
		}
	}
}
