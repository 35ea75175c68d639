package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildCaddy builds Caddy from internal/caddybuild, a module of its own
// pinning Caddy's version, into dir. Locally the test skips when the
// build cannot run (no Go module download); under CI=true it fails.
func buildCaddy(t *testing.T, dir string) string {
	t.Helper()
	// Not dir/caddy: Caddy keeps its storage in $XDG_DATA_HOME/caddy.
	bin := filepath.Join(dir, "bin", "caddy")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "..", "internal", "caddybuild")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("build caddy: %v\n%s", err, out)
		}
		t.Skipf("cannot build caddy (internal/caddybuild): %v\n%s", err, out)
	}
	return bin
}

// renderCaddyfile is deploy/caddy/Caddyfile with this test's addresses,
// on loopback, with Caddy's admin endpoint off (another test's Caddy may
// hold its default port).
func renderCaddyfile(t *testing.T, dir, listen, authz, api string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "caddy", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(listen)
	conf := string(b)
	for _, r := range [][2]string{
		{"forward_auth gatehouse-authz:8081 {", "forward_auth " + authz + " {"},
		{"reverse_proxy api:8000", "reverse_proxy " + api},
		{":80 {", fmt.Sprintf(":%s {\n\tbind 127.0.0.1", port)},
		{"auto_https off", "auto_https off\n\tadmin off\n\tpersist_config off"},
	} {
		if strings.Count(conf, r[0]) != 1 {
			t.Fatalf("deploy/caddy/Caddyfile: %q not found once", r[0])
		}
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCaddyForwardAuth is TestNginxForwardAuth with the real Caddy
// configured by deploy/caddy/Caddyfile.
func TestCaddyForwardAuth(t *testing.T) {
	dir := t.TempDir()
	bin := buildCaddy(t, dir)
	s, authzAddr, _ := startWithAuthz(t, gatewayRoutes)
	m := setupM2M(t, s)
	api := echoUpstream(t)
	listen := freePort(t)
	conf := renderCaddyfile(t, dir, listen, authzAddr, strings.TrimPrefix(api.URL, "http://"))

	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(cleanEnv(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	runUntilTestEnds(t, "caddy", cmd, listen, 15*time.Second, nil)
	exerciseGateway(t, s, m, listen)
}
