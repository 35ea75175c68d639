package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/logtest"
)

// nginxOrSkip returns the nginx binary. Locally the test skips without
// one; under CI=true it fails, since CI installs nginx (.ci/run).
func nginxOrSkip(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx is not installed; CI must run the nginx gateway test (apt-get install nginx)")
		}
		t.Skip("nginx is not installed (apt-get install nginx); skipping the nginx gateway test")
	}
	return path
}

// freePort returns a loopback address nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// renderNginx is deploy/nginx/gatehouse.conf with the addresses of this
// test, wrapped in a main configuration that keeps everything under
// prefix. Each substitution must find its line: a deploy file that
// changes shape fails here.
func renderNginx(t *testing.T, prefix, listen, authz, api string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nginx", "gatehouse.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, r := range [][2]string{
		{"server gatehouse-authz:8081;", "server " + authz + ";"},
		{"server api:8000;", "server " + api + ";"},
		{"listen 80;", "listen " + listen + ";"},
	} {
		if strings.Count(conf, r[0]) != 1 {
			t.Fatalf("deploy/nginx/gatehouse.conf: %q not found once", r[0])
		}
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	site := filepath.Join(prefix, "gatehouse.conf")
	if err := os.WriteFile(site, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[2]s;
}
`, prefix, site)
	path := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(path, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startNginx runs nginx in the foreground until the test ends.
func startNginx(t *testing.T, bin, prefix, conf, listen string) {
	t.Helper()
	test := exec.Command(bin, "-t", "-p", prefix, "-c", conf)
	if out, err := test.CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	runUntilTestEnds(t, "nginx", exec.Command(bin, "-p", prefix, "-c", conf), listen, 10*time.Second, func() string {
		b, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
		return "error.log:\n" + string(b)
	})
}

// runUntilTestEnds starts a gateway process (nginx, Caddy), kills it when
// the test ends, and waits up to timeout until it listens on listen; the
// process's output, and whatever more extra tells, is logged if the test
// fails.
func runUntilTestEnds(t *testing.T, name string, cmd *exec.Cmd, listen string, timeout time.Duration, extra func() string) {
	t.Helper()
	var logs logtest.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			more := ""
			if extra != nil {
				more = extra()
			}
			t.Logf("%s output:\n%s\n%s", name, logs.String(), more)
		}
	})
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", listen, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited: %s", name, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s: %s", name, listen, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// echoUpstream is the API behind nginx: it answers with the headers it
// got, as JSON.
func echoUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type nginxResult struct {
	code     int
	header   http.Header
	upstream http.Header // nil unless the request reached the API
}

func viaGateway(t *testing.T, listen, method, path string, hdr map[string]string) nginxResult {
	t.Helper()
	return gatewayRequest(t, &http.Client{Timeout: 10 * time.Second}, method, "http://"+listen+path, hdr)
}

// gatewayRequest sends method url with hdr and the API's Host through a
// gateway, and reads what the echoing API saw when the request reached it.
func gatewayRequest(t *testing.T, client *http.Client, method, url string, hdr map[string]string) nginxResult {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "api.example.com"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := nginxResult{code: resp.StatusCode, header: resp.Header}
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&r.upstream); err != nil {
			t.Fatalf("upstream answer: %v", err)
		}
	}
	return r
}

// TestNginxForwardAuth puts the real nginx, configured by
// deploy/nginx/gatehouse.conf, between a client and an API that echoes
// the headers it gets, with the race-built gatehouse deciding (checklist
// items 98 and 99).
func TestNginxForwardAuth(t *testing.T) {
	bin := nginxOrSkip(t)
	s, authzAddr, _ := startWithAuthz(t, gatewayRoutes)
	m := setupM2M(t, s)
	api := echoUpstream(t)
	prefix := t.TempDir()
	listen := freePort(t)
	conf := renderNginx(t, prefix, listen, authzAddr, strings.TrimPrefix(api.URL, "http://"))
	startNginx(t, bin, prefix, conf, listen)

	exerciseGateway(t, s, m, listen)
}

// exerciseGateway runs the gateway checks of checklist items 98 and 99
// through the gateway listening on listen, with the echoing API behind it
// and s deciding; it stops s last.
func exerciseGateway(t *testing.T, s *server, m *m2m, listen string) {
	t.Helper()
	readTok := m.token(t, m.reader, "inventory:read")
	var key createdKey
	s.cliJSON(t, &key, "apikeys", "create", "--client", m.reader.ClientID, "--scopes", "inventory:read")

	t.Run("token with scope: identity reaches the API", func(t *testing.T) {
		r := viaGateway(t, listen, "GET", "/api/items/1", bearer(readTok))
		if r.code != 200 {
			t.Fatalf("status %d", r.code)
		}
		want := map[string]string{
			"X-Gatehouse-Client-Id":       m.reader.ClientID,
			"X-Gatehouse-Subject":         m.reader.ClientID,
			"X-Gatehouse-Credential-Kind": "bearer",
		}
		for k, v := range want {
			if got := r.upstream.Get(k); got != v {
				t.Errorf("upstream %s = %q, want %q", k, got, v)
			}
		}
		if !strings.Contains(r.upstream.Get("X-Gatehouse-Scopes"), "inventory:read") {
			t.Errorf("upstream scopes %q", r.upstream.Get("X-Gatehouse-Scopes"))
		}
	})
	t.Run("forged identity never reaches the API", func(t *testing.T) {
		forged := map[string]string{
			"Authorization":         "Bearer " + readTok,
			"X-Gatehouse-Subject":   "admin",
			"X-Gatehouse-Client-Id": "admin",
			"X-Gatehouse-Scopes":    "gatehouse:admin",
			"X-Forwarded-Uri":       "/public/x",
			"X-Original-URI":        "/public/x",
		}
		r := viaGateway(t, listen, "GET", "/api/items/1", forged)
		if r.code != 200 || len(r.upstream.Values("X-Gatehouse-Subject")) != 1 || r.upstream.Get("X-Gatehouse-Subject") != m.reader.ClientID ||
			strings.Contains(r.upstream.Get("X-Gatehouse-Scopes"), "gatehouse:admin") {
			t.Fatalf("status %d, upstream saw subject %q scopes %q", r.code, r.upstream.Values("X-Gatehouse-Subject"), r.upstream.Get("X-Gatehouse-Scopes"))
		}
		// A public route has no identity: the forged headers are removed,
		// not passed on.
		r = viaGateway(t, listen, "GET", "/public/logo.png", forged)
		if r.code != 200 || r.upstream.Get("X-Gatehouse-Subject") != "" || r.upstream.Get("X-Gatehouse-Client-Id") != "" || r.upstream.Get("X-Gatehouse-Scopes") != "" {
			t.Fatalf("public route: status %d, upstream saw %v", r.code, r.upstream)
		}
		// A forged URI cannot turn a protected request into a public one.
		delete(forged, "Authorization")
		if r := viaGateway(t, listen, "GET", "/api/items/1", forged); r.code != 401 {
			t.Fatalf("forged X-Forwarded-Uri: status %d", r.code)
		}
	})
	t.Run("no credential: 401 with the challenge", func(t *testing.T) {
		r := viaGateway(t, listen, "GET", "/api/items/1", nil)
		if r.code != 401 || r.header.Get("WWW-Authenticate") != `Bearer realm="gatehouse"` {
			t.Fatalf("status %d, WWW-Authenticate %q", r.code, r.header.Values("WWW-Authenticate"))
		}
	})
	t.Run("wrong scope: 403 insufficient_scope", func(t *testing.T) {
		r := viaGateway(t, listen, "POST", "/api/items", bearer(readTok))
		if r.code != 403 || r.header.Get("WWW-Authenticate") != `Bearer realm="gatehouse", error="insufficient_scope", scope="inventory:write"` {
			t.Fatalf("status %d, WWW-Authenticate %q", r.code, r.header.Values("WWW-Authenticate"))
		}
	})
	t.Run("API key", func(t *testing.T) {
		r := viaGateway(t, listen, "GET", "/api/items", map[string]string{"X-API-Key": key.APIKey})
		if r.code != 200 || r.upstream.Get("X-Gatehouse-Credential-Kind") != "api_key" {
			t.Fatalf("status %d, upstream kind %q", r.code, r.upstream.Get("X-Gatehouse-Credential-Kind"))
		}
	})
	t.Run("revoked token: 401 within the revocation delay", func(t *testing.T) {
		tok := m.token(t, m.reader, "inventory:read")
		if r := viaGateway(t, listen, "GET", "/api/items/2", bearer(tok)); r.code != 200 {
			t.Fatalf("before: %d", r.code)
		}
		if code := revokeRFC7009(t, s, m.reader, "token="+tok); code != 200 {
			t.Fatalf("revoke: %d", code)
		}
		eventually(t, "revoked token refused through the gateway", func() bool {
			r := viaGateway(t, listen, "GET", "/api/items/2", bearer(tok))
			return r.code == 401 && strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`)
		})
	})
	t.Run("gatehouse stopped: the gateway refuses", func(t *testing.T) {
		s.stop()
		r := viaGateway(t, listen, "GET", "/api/items/1", bearer(readTok))
		if r.code < 500 || r.upstream != nil {
			t.Fatalf("with gatehouse down: status %d, upstream reached %v", r.code, r.upstream != nil)
		}
	})
}
