package config

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gh.yaml")
	if err := os.WriteFile(file, []byte("http-addr: 127.0.0.1:7000\ngrpc-addr: 127.0.0.1:7001\ndata-dir: /from/file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		args           []string
		env            map[string]string
		http, grpc, dd string
		service        string
	}{
		{name: "defaults", http: "127.0.0.1:8080", grpc: "127.0.0.1:9090", dd: "./data"},
		{name: "file", args: []string{"--config", file}, http: "127.0.0.1:7000", grpc: "127.0.0.1:7001", dd: "/from/file"},
		{name: "env beats file", args: []string{"--config", file}, env: map[string]string{"GATEHOUSE_HTTP_ADDR": "127.0.0.1:6000"}, http: "127.0.0.1:6000", grpc: "127.0.0.1:7001", dd: "/from/file"},
		{name: "flag beats env", args: []string{"--config", file, "--http-addr", "127.0.0.1:5000"}, env: map[string]string{"GATEHOUSE_HTTP_ADDR": "127.0.0.1:6000"}, http: "127.0.0.1:5000", grpc: "127.0.0.1:7001", dd: "/from/file"},
		{name: "config from env", env: map[string]string{"GATEHOUSE_CONFIG": file}, http: "127.0.0.1:7000", grpc: "127.0.0.1:7001", dd: "/from/file"},
		{name: "service", args: append([]string{"clients", "--grpc-addr", "127.0.0.1:0"}, splitArgs("--peer-revocation", "127.0.0.1:1", "--peer-keys", "127.0.0.1:2")...), http: "127.0.0.1:8080", grpc: "127.0.0.1:0", dd: "./data", service: "clients"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.args, env(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.HTTPAddr != tc.http || c.GRPCAddr != tc.grpc || c.DataDir != tc.dd || c.Service != tc.service {
				t.Fatalf("got http=%s grpc=%s data=%s service=%q", c.HTTPAddr, c.GRPCAddr, c.DataDir, c.Service)
			}
			if c.ShutdownTimeout != 15*time.Second || c.APIKeyCacheTTL != 30*time.Second {
				t.Fatalf("duration defaults: %v %v", c.ShutdownTimeout, c.APIKeyCacheTTL)
			}
		})
	}
}

func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("htp-addr: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		option string
	}{
		{"bad addr flag", []string{"--http-addr", "nonsense"}, nil, "http-addr"},
		{"bad addr env", nil, map[string]string{"GATEHOUSE_GRPC_ADDR": "nope"}, "grpc-addr"},
		{"bad database url", []string{"--database-url", "mysql://x"}, nil, "database-url"},
		{"bad nats url", []string{"--nats-url", "http://x"}, nil, "nats-url"},
		{"bad duration", []string{"--shutdown-timeout", "-1s"}, nil, "shutdown-timeout"},
		{"cache ttl too long", []string{"--apikey-cache-ttl", "1h"}, nil, "apikey-cache-ttl"},
		{"bad level", []string{"--log-level", "loud"}, nil, "log-level"},
		{"unknown service", []string{"everything"}, nil, "service"},
		{"unknown yaml key", []string{"--config", bad}, nil, "config"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.yaml")}, nil, "config"},
		{"http issuer off loopback", []string{"--issuer", "http://auth.example"}, nil, "issuer"},
		{"issuer with trailing slash", []string{"--issuer", "https://auth.example/"}, nil, "issuer"},
		{"issuer with query", []string{"--issuer", "https://auth.example?x=1"}, nil, "issuer"},
		{"clock skew too large", []string{"--clock-skew", "2m"}, nil, "clock-skew"},
		{"unknown algorithm", []string{"--signing-alg", "HS256"}, nil, "signing-alg"},
		{"DPoP alg none", []string{"--dpop-algorithms", "ES256,none"}, nil, "dpop-algorithms"},
		{"DPoP alg HS256", []string{"--dpop-algorithms", "HS256"}, nil, "dpop-algorithms"},
		{"DPoP window too long", []string{"--dpop-window", "1h"}, nil, "dpop-window"},
		{"publish lead below jwks max-age", []string{"--key-publish-lead", "1m", "--jwks-max-age", "5m"}, nil, "key-publish-lead"},
		{"bad tier", []string{"--rate-limit-tiers", "standard=fast:1"}, nil, "rate-limit-tiers"},
		{"unknown tier", []string{"--rate-limit-tiers", "standard=1:1,gold=5:5"}, nil, "rate-limit-tiers"},
		{"no standard tier", []string{"--rate-limit-tiers", "high=1:1"}, nil, "rate-limit-tiers"},
		{"bad trusted proxy", []string{"--trusted-proxies", "10.0.0.0/8,proxy.example"}, nil, "trusted-proxies"},
		{"every address a trusted proxy", []string{"--trusted-proxies", "0.0.0.0/0"}, nil, "trusted-proxies"},
		{"every v6 address a trusted proxy", nil, map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "::/0"}, "trusted-proxies"},
		{"embedded NATS off loopback", []string{"--nats-listen", "0.0.0.0:4222"}, nil, "nats-listen"},
		{"embedded NATS without a port", []string{"--nats-listen", "127.0.0.1"}, nil, "nats-listen"},
		{"issuer from a wildcard address", []string{"--http-addr", "0.0.0.0:8080"}, nil, "issuer"},
		{"issuer from an empty host", []string{"--http-addr", ":8080"}, nil, "issuer"},
		{"bad bool", nil, map[string]string{"GATEHOUSE_EXAMPLE_INVENTORY": "maybe"}, "example-inventory"},
		{"bad authz addr", []string{"--authz-addr", "nonsense"}, nil, "authz-addr"},
		{"authz listener without routes", []string{"--authz-addr", "127.0.0.1:0", "--trusted-proxies", "127.0.0.1"}, nil, "authz-routes"},
		{"authz routes without a listener", []string{"--authz-routes", "routes.yaml"}, nil, "authz-routes"},
		{"authz listener trusting no gateway", []string{"--authz-addr", "127.0.0.1:0", "--authz-routes", "routes.yaml"}, nil, "trusted-proxies"},
		{"authz tls without a listener", []string{"--authz-tls"}, nil, "authz-tls"},
		{"authz tls without the mtls listener", []string{"--authz-tls", "--authz-addr", "127.0.0.1:0", "--authz-routes", "r.yaml", "--trusted-proxies", "127.0.0.1", "--mtls-addr", ""}, nil, "authz-tls"},
		{"bad cert header", []string{"--authz-client-cert-header", "x cert"}, nil, "authz-client-cert-header"},
		{"cert header without a listener", []string{"--authz-client-cert-header", "X-SSL-Client-Cert"}, nil, "authz-client-cert-header"},
		{"peer in the all-in-one", []string{"--peer-clients", "127.0.0.1:1"}, nil, "peer-clients"},
		{"split without nats", []string{"token", "--issuer", "https://a.example", "--peer-cert", "c", "--peer-key", "k", "--peer-ca", "ca"}, nil, "nats-url"},
		{"split without issuer", []string{"token", "--nats-url", "nats://127.0.0.1:4222"}, nil, "issuer"},
		{"split without identity", []string{"token", "--nats-url", "nats://127.0.0.1:4222", "--issuer", "https://a.example", "--peer-cert", "c"}, nil, "peer-cert"},
		{"split without mtls listener", append([]string{"revocation", "--mtls-addr", ""}, splitArgs("--peer-clients", "127.0.0.1:1", "--peer-keys", "127.0.0.1:2")...), nil, "mtls-addr"},
		{"split missing a peer", append([]string{"token"}, splitArgs("--peer-clients", "127.0.0.1:1", "--peer-keys", "127.0.0.1:2")...), nil, "peer-revocation"},
		{"split with a peer it does not call", append([]string{"revocation"}, splitArgs("--peer-clients", "127.0.0.1:1", "--peer-keys", "127.0.0.1:2", "--peer-token", "127.0.0.1:3")...), nil, "peer-token"},
		{"bad admin address", []string{"--admin-addr", "admin"}, nil, "admin-addr"},
		{"admin listener in a split service", append([]string{"revocation", "--admin-addr", "127.0.0.1:0"}, splitArgs("--peer-clients", "127.0.0.1:1", "--peer-keys", "127.0.0.1:2")...), nil, "admin-addr"},
		{"bad peer address", append([]string{"inventory"}, splitArgs("--peer-clients", "nonsense", "--peer-revocation", "127.0.0.1:2")...), nil, "peer-clients"},
		{"authz service without its listener", append([]string{"authz"}, splitArgs("--peer-clients", "127.0.0.1:1", "--peer-revocation", "127.0.0.1:2")...), nil, "authz-addr"},
		{"authz service with a peer it does not call", append([]string{"authz"}, splitArgs(append([]string{"--peer-clients", "127.0.0.1:1", "--peer-revocation", "127.0.0.1:2", "--peer-token", "127.0.0.1:3"}, authzArgs...)...)...), nil, "peer-token"},
		{"peer name without a host", append([]string{"inventory"}, splitArgs("--peer-clients", "dns:///:8443", "--peer-revocation", "127.0.0.1:2")...), nil, "peer-clients"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.args, env(tc.env), io.Discard)
			var ce *Error
			if !errors.As(err, &ce) || ce.Option != tc.option {
				t.Fatalf("err = %v, want a config error naming %s", err, tc.option)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestExampleConfigLoads(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "gatehouse.example.yaml")
	c, err := Load([]string{"--config", path}, env(nil), io.Discard)
	if err != nil {
		t.Fatalf("deploy example: %v", err)
	}
	if c.DatabaseURL == "" || c.NATSURL == "" || c.ShutdownTimeout != 20*time.Second {
		t.Fatalf("deploy example not applied: %+v", c)
	}
}

func TestLoadTokenOptions(t *testing.T) {
	c, err := Load([]string{"--example-inventory", "--issuer", "https://auth.example", "--signing-alg", "EdDSA"},
		env(map[string]string{"GATEHOUSE_KEK": "a2V5"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.ExampleInventory || c.Issuer != "https://auth.example" || c.SigningAlg != "EdDSA" || c.KEK != "a2V5" {
		t.Fatalf("options not applied: %+v", c)
	}
	d, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if d.ExampleInventory || d.Issuer != "" || d.SigningAlg != "ES256" || d.ClockSkew != 30*time.Second ||
		d.KeyRotationInterval != 720*time.Hour || d.DefaultAudience != "urn:gatehouse:api" ||
		d.RateLimitTiers["internal"] != (Tier{PerSecond: 5000, Burst: 10000}) || len(d.RateLimitTiers) != 4 {
		t.Fatalf("defaults: %+v", d)
	}
	if !slices.Equal(d.DPoPAlgorithms, []string{"ES256", "EdDSA"}) || d.DPoPWindow != time.Minute || !d.DPoPTokenNonce {
		t.Fatalf("DPoP defaults: %v %v %v", d.DPoPAlgorithms, d.DPoPWindow, d.DPoPTokenNonce)
	}
	p, err := Load([]string{"--dpop-algorithms", "ES256, PS256", "--dpop-window", "10s", "--dpop-token-nonce=false"}, env(nil), io.Discard)
	if err != nil || !slices.Equal(p.DPoPAlgorithms, []string{"ES256", "PS256"}) || p.DPoPWindow != 10*time.Second || p.DPoPTokenNonce {
		t.Fatalf("DPoP options: %v %+v", err, p)
	}
	if d.RequirePAR {
		t.Fatal("--require-par is on by default")
	}
	if p, err := Load([]string{"--require-par"}, env(nil), io.Discard); err != nil || !p.RequirePAR {
		t.Fatalf("--require-par: %v %v", err, p.RequirePAR)
	}
}

// splitArgs are the options every split service needs, then extra.
func splitArgs(extra ...string) []string {
	return append([]string{"--nats-url", "nats://127.0.0.1:4222", "--issuer", "https://auth.example",
		"--peer-cert", "svc.crt", "--peer-key", "svc.key", "--peer-ca", "ca.crt"}, extra...)
}

func TestLoadTrustedProxies(t *testing.T) {
	cfg, err := Load([]string{"--trusted-proxies", " 10.1.2.3, 192.168.7.9/16,::ffff:172.16.0.1, fd00::/8 ,"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range cfg.TrustedProxies {
		got = append(got, p.String())
	}
	want := []string{"10.1.2.3/32", "192.168.0.0/16", "172.16.0.1/32", "fd00::/8"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("TrustedProxies = %v, want %v", got, want)
	}
}

func TestSplitPeers(t *testing.T) {
	addr := map[string]string{"clients": "127.0.0.1:1", "keys": "127.0.0.1:2", "revocation": "127.0.0.1:3", "token": "127.0.0.1:4", "inventory": "127.0.0.1:5"}
	for _, svc := range Services {
		t.Run(svc, func(t *testing.T) {
			var args []string
			for _, p := range SplitPeers[svc] {
				args = append(args, "--peer-"+p, addr[p])
			}
			if svc == "authz" {
				args = append(args, authzArgs...)
			}
			c, err := Load(append([]string{svc}, splitArgs(args...)...), env(nil), io.Discard)
			if err != nil {
				t.Fatalf("with exactly its peers: %v", err)
			}
			for _, p := range SplitPeers[svc] {
				if got := c.Peer(p); len(got) != 1 || got[0] != addr[p] {
					t.Errorf("Peer(%s) = %v", p, got)
				}
			}
		})
	}
	// The optional peers: the example API may read the keys from the key
	// service, and the gateway front it.
	if _, err := Load(append([]string{"inventory"}, splitArgs("--peer-clients", "127.0.0.1:1", "--peer-revocation", "127.0.0.1:2", "--peer-keys", "127.0.0.1:3,127.0.0.1:4")...), env(nil), io.Discard); err != nil {
		t.Fatalf("inventory with the key service: %v", err)
	}
	if c, err := Load(append([]string{"inventory"}, splitArgs("--peer-clients", "dns:///clients-peers.gatehouse.svc:8443", "--peer-revocation", "10.0.0.1:8443,10.0.0.2:8443")...), env(nil), io.Discard); err != nil || c.Peer("clients")[0] != "dns:///clients-peers.gatehouse.svc:8443" {
		t.Fatalf("a peer looked up in DNS: %v", err)
	}
	if _, err := Load(append([]string{"gateway"}, splitArgs("--peer-clients", "127.0.0.1:1", "--peer-revocation", "127.0.0.1:2", "--peer-keys", "127.0.0.1:3",
		"--peer-token", "127.0.0.1:4", "--peer-inventory", "127.0.0.1:5")...), env(nil), io.Discard); err != nil {
		t.Fatalf("gateway in front of the inventory: %v", err)
	}
	if _, err := Load(append([]string{"authz"}, splitArgs(append([]string{"--peer-clients", "127.0.0.1:1", "--peer-revocation", "127.0.0.1:2", "--peer-keys", "127.0.0.1:3"}, authzArgs...)...)...), env(nil), io.Discard); err != nil {
		t.Fatalf("authz with the key service: %v", err)
	}
}

// authzArgs are what serve authz needs besides its peers: the listener it
// serves, the rules, and the gateways it believes.
var authzArgs = []string{"--authz-addr", "127.0.0.1:0", "--authz-routes", "routes.yaml", "--trusted-proxies", "127.0.0.1"}

// TestConfigFileErrors: an error in the config file names the file and
// the line, as an editor jumps to, and says what is wrong.
func TestConfigFileErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	tests := []struct {
		name   string
		yaml   string
		option string
		want   string
	}{
		{"unknown key", "log-level: info\n# the listener\n\nhttp_addr: 127.0.0.1:1\n", "config",
			`config.yaml:4: unknown key "http_addr" (did you mean "http-addr"?)`},
		{"unknown key without a near miss", "grpc-addr: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", "config",
			`config.yaml:2: unknown key "listen"`},
		{"bad value", "data-dir: ./d\nshutdown-timeout: soon\n", "shutdown-timeout",
			"config.yaml:2: invalid option shutdown-timeout: must be a positive duration such as 30s"},
		{"bad level", "\n\nlog-level: loud\n", "log-level",
			`config.yaml:3: invalid option log-level: "loud" is not a level: must be one of debug, info, warn, error`},
		{"bad boolean", "example-inventory: yes\n", "example-inventory",
			"config.yaml:1: invalid option example-inventory: must be true or false"},
		{"key twice", "log-level: info\nlog-level: debug\n", "config",
			`config.yaml:2: key "log-level" given twice (first on line 1)`},
		{"a list, not a value", "trusted-proxies:\n  - 10.0.0.1\n", "config",
			`config.yaml:2: key "trusted-proxies" must have a single value (a string, number or boolean)`},
		{"no value", "data-dir:\n", "config",
			`config.yaml:1: key "data-dir" must have a single value (a string, number or boolean)`},
		{"not a mapping", "- data-dir\n", "config",
			"config.yaml:1: must be a mapping of option names to values"},
		{"bad syntax", "log-level: info\n  http-addr: x\n", "config",
			"config.yaml:2: not valid YAML: mapping values are not allowed in this context"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile("config.yaml", []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load([]string{"--config", "config.yaml"}, env(nil), io.Discard)
			var ce *Error
			if !errors.As(err, &ce) || ce.Option != tc.option {
				t.Fatalf("err = %v, want a config error naming %s", err, tc.option)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n  %s\nwant\n  %s", err, tc.want)
			}
		})
	}
}

func TestLogLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr string
	}{
		{"debug", slog.LevelDebug, ""},
		{"info", slog.LevelInfo, ""},
		{"WARN", slog.LevelWarn, ""},
		{"error", slog.LevelError, ""},
		{"info+2", 0, `invalid option log-level (from flag --log-level): "info+2" is not a level: must be one of debug, info, warn, error`},
		{"verbose", 0, `invalid option log-level (from flag --log-level): "verbose" is not a level: must be one of debug, info, warn, error`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			c, err := Load([]string{"--log-level", tc.in}, env(nil), io.Discard)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.LogLevel != tc.want {
				t.Fatalf("Load = %v, %v; want level %v", c, err, tc.want)
			}
		})
	}
}
