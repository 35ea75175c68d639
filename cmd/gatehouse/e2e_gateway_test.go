package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// gatewayRoutes is the route-rules file of the gateway tests, over the
// example inventory's scopes.
const gatewayRoutes = `routes:
  - methods: [GET]
    path: /api/items/**
    scopes: [inventory:read]
  - methods: [POST]
    path: /api/items
    scopes: [inventory:write]
  - methods: [GET]
    path: /public/**
    allow_unauthenticated: true
`

var authzAddrRE = regexp.MustCompile(`"authz_addr":"([^"]+)"`)

// startWithAuthz starts gatehouse with the example inventory and the
// gateway authorizer on a free port, trusting loopback as the gateway,
// and returns the server, the authorizer's address and the routes file.
func startWithAuthz(t *testing.T, routes string, extra ...string) (*server, string, string) {
	t.Helper()
	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routesFile, []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, filepath.Join(dir, "data"), append([]string{"--example-inventory", "--authz-addr", "127.0.0.1:0",
		"--authz-routes", routesFile, "--trusted-proxies", "127.0.0.1/32"}, extra...)...)
	m := authzAddrRE.FindStringSubmatch(s.logs.String())
	if m == nil {
		t.Fatalf("no authz_addr in the logs:\n%s", s.logs)
	}
	return s, m[1], routesFile
}

type forwarded struct {
	method, uri string
	header      map[string]string
}

// checked is the authorizer's answer.
type checked struct {
	StatusCode int
	Header     http.Header
}

// check asks /authz/check as a gateway would.
func check(t *testing.T, addr string, f forwarded) checked {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "GET", "http://"+addr+"/authz/check", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-Method", f.method)
	req.Header.Set("X-Forwarded-Uri", f.uri)
	req.Header.Set("X-Forwarded-Host", "api.example.com")
	for k, v := range f.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return checked{StatusCode: resp.StatusCode, Header: resp.Header}
}

// TestEndToEndForwardAuth asks the running binary's /authz/check about
// real credentials: a client-credentials token, an API key, none, too few
// scopes, an unmatched route, a revoked token; then changes the routes
// with SIGHUP and with a bad file.
func TestEndToEndForwardAuth(t *testing.T) {
	s, addr, routesFile := startWithAuthz(t, gatewayRoutes)
	m := setupM2M(t, s)
	readTok := m.token(t, m.reader, "inventory:read")
	var key createdKey
	s.cliJSON(t, &key, "apikeys", "create", "--client", m.reader.ClientID, "--scopes", "inventory:read")

	checkDecisions(t, addr, []decision{
		{"bearer with scope", forwarded{"GET", "/api/items/1", bearer(readTok)}, 200, "", m.reader.ClientID, "bearer"},
		{"api key", forwarded{"GET", "/api/items", map[string]string{"X-API-Key": key.APIKey}}, 200, "", m.reader.ClientID, "api_key"},
		{"public", forwarded{"GET", "/public/logo.png", nil}, 200, "", "", ""},
		{"no credential", forwarded{"GET", "/api/items/1", nil}, 401, `Bearer realm="gatehouse"`, "", ""},
		{"garbage token", forwarded{"GET", "/api/items/1", bearer("x.y.z")}, 401, `Bearer realm="gatehouse", error="invalid_token"`, "", ""},
		{"wrong scope", forwarded{"POST", "/api/items", bearer(readTok)}, 403, `Bearer realm="gatehouse", error="insufficient_scope", scope="inventory:write"`, "", ""},
		{"no route", forwarded{"DELETE", "/api/items/1", bearer(readTok)}, 403, "", "", ""},
		{"dot segments", forwarded{"GET", "/api/items/../../admin", bearer(readTok)}, 400, "", "", ""},
	})
	// Refusals are the process's auth failures: logged like any other.
	if !strings.Contains(s.logs.String(), "/gatehouse.authz.Routes/line") {
		t.Error("no auth-failure record names the route")
	}

	t.Run("ext_authz on the same listener", func(t *testing.T) {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := authv3.NewAuthorizationClient(conn)
		ask := func(method, path string, headers map[string]string) *authv3.CheckResponse {
			t.Helper()
			resp, err := c.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
					Method: method, Path: path, Host: "api.example.com", Headers: headers,
				}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		ok := ask("GET", "/api/items/1", map[string]string{"authorization": "Bearer " + readTok})
		if ok.GetStatus().GetCode() != 0 || ok.GetOkResponse() == nil {
			t.Fatalf("token with scope: %v", ok)
		}
		var client string
		for _, h := range ok.GetOkResponse().GetHeaders() {
			if h.GetHeader().GetKey() == "x-gatehouse-client-id" {
				client = h.GetHeader().GetValue()
			}
		}
		if client != m.reader.ClientID {
			t.Errorf("client id header %q", client)
		}
		denied := ask("POST", "/api/items", map[string]string{"x-api-key": key.APIKey})
		if codes.Code(denied.GetStatus().GetCode()) != codes.PermissionDenied || denied.GetDeniedResponse().GetStatus().GetCode() != 403 {
			t.Fatalf("wrong scope: %v", denied)
		}
		none := ask("GET", "/api/items/1", nil)
		if codes.Code(none.GetStatus().GetCode()) != codes.Unauthenticated || none.GetDeniedResponse().GetStatus().GetCode() != 401 {
			t.Fatalf("no credential: %v", none)
		}
	})

	t.Run("revoked token", func(t *testing.T) {
		refusedAfterRevocation(t, addr, s, m.reader, "/api/items/1", m.token(t, m.reader, "inventory:read"), 3*time.Second)
	})

	t.Run("reload", func(t *testing.T) {
		read := forwarded{"GET", "/api/items/1", bearer(readTok)}
		if err := os.WriteFile(routesFile, []byte("routes:\n  - methods: [GET]\n    path: /api/items/**\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		eventually(t, "bad reload logged", func() bool {
			return strings.Contains(s.logs.String(), routesFile+":2: no scopes")
		})
		if code := check(t, addr, read).StatusCode; code != 200 {
			t.Fatalf("after a bad reload the old rules stay: %d", code)
		}
		stricter := strings.Replace(gatewayRoutes, "scopes: [inventory:read]", "scopes: [inventory:write]", 1)
		if err := os.WriteFile(routesFile, []byte(stricter), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		eventually(t, "new rules in force", func() bool { return check(t, addr, read).StatusCode == 403 })
	})

	t.Run("untrusted caller", func(t *testing.T) {
		// The listener trusts 127.0.0.1 only; ::1 is another caller.
		req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://"+addr+"/authz/check", nil)
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Uri", "/public/x")
		tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			return dialFrom(ctx, "127.0.0.2", a)
		}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Skipf("cannot dial from 127.0.0.2: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("forwarded headers from an untrusted caller: %d", resp.StatusCode)
		}
	})
}

// TestEndToEndForwardAuthBoundToken: a partner's certificate-bound token
// (RFC 8705), issued by the running binary over its mTLS listener, is
// allowed through forward auth only with the certificate the gateway
// states in --authz-client-cert-header.
func TestEndToEndForwardAuthBoundToken(t *testing.T) {
	dir := t.TempDir()
	pki := newPartnerPKI(t, dir)
	s, addr, _ := startWithAuthz(t, gatewayRoutes, "--tls-client-ca", pki.caPEM, "--authz-client-cert-header", "X-SSL-Client-Cert")
	cert, clientID := registerBoundPartner(t, s, pki)
	access := boundToken(t, s, cert, clientID)
	escaped := func(der []byte) string {
		return url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	}
	other := pki.issue(t, "someone-else")
	tests := []struct {
		name   string
		cert   string
		status int
	}{
		{"the bound certificate", escaped(cert.Certificate[0]), 200},
		{"no certificate", "", 401},
		{"another partner's certificate", escaped(other.Certificate[0]), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := bearer(access)
			if tt.cert != "" {
				h["X-SSL-Client-Cert"] = tt.cert
			}
			got := check(t, addr, forwarded{"GET", "/api/items/1", h})
			if got.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", got.StatusCode, tt.status)
			}
			if tt.status == 401 && !strings.Contains(got.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", got.Header.Get("WWW-Authenticate"))
			}
			if tt.status == 200 && got.Header.Get("X-Gatehouse-Client-Id") != clientID {
				t.Errorf("client id %q", got.Header.Get("X-Gatehouse-Client-Id"))
			}
		})
	}
}

// TestEndToEndAuthzTLS: with --authz-tls the authorizer's listener takes
// only gateways with a client certificate from a trusted CA, over TLS,
// for forward auth and ext_authz alike.
func TestEndToEndAuthzTLS(t *testing.T) {
	dir := t.TempDir()
	pki := newPartnerPKI(t, dir)
	_, addr, _ := startWithAuthz(t, gatewayRoutes, "--tls-client-ca", pki.caPEM, "--authz-tls")
	gw := pki.issue(t, "edge-gateway")
	stranger := newPartnerPKI(t, t.TempDir()).issue(t, "edge-gateway")
	ask := func(certs ...tls.Certificate) (int, error) {
		cfg := &tls.Config{Certificates: certs, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // test server with a generated certificate
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		defer c.CloseIdleConnections()
		req, _ := http.NewRequestWithContext(context.Background(), "GET", "https://"+addr+"/authz/check", nil)
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Uri", "/public/x")
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := ask(gw); err != nil || code != 200 {
		t.Fatalf("gateway with a trusted certificate: %d %v", code, err)
	}
	if code, err := ask(); err == nil {
		t.Fatalf("gateway without a certificate: %d", code)
	}
	if code, err := ask(stranger); err == nil {
		t.Fatalf("gateway with an untrusted certificate: %d", code)
	}
	if resp, err := http.Get("http://" + addr + "/authz/check"); err == nil { //nolint:noctx // one probe
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plaintext answered 200")
		}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(grpccreds.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{gw}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})), //nolint:gosec // as above
	)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := authv3.NewAuthorizationClient(conn).Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/api/items/1"}},
	}})
	if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.Unauthenticated {
		t.Fatalf("ext_authz over mTLS: %v %v", resp, err)
	}
}

// dialFrom connects to addr from the local address ip.
func dialFrom(ctx context.Context, ip, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return d.DialContext(ctx, "tcp", addr)
}

// TestEndToEndForwardAuthAudience: a route naming an audience takes the
// binary's tokens issued for that resource (RFC 8707) and refuses those
// of the default audience, and the other routes the reverse.
func TestEndToEndForwardAuthAudience(t *testing.T) {
	routes := gatewayRoutes + `  - methods: [GET]
    path: /other/**
    scopes: [inventory:read]
    audience: https://other.example/api
`
	s, addr, _ := startWithAuthz(t, routes)
	m := setupM2M(t, s)
	def := m.token(t, m.writer, "inventory:read")
	cfg := m.config(m.writer, "inventory:read")
	cfg.EndpointParams = url.Values{"resource": {"https://other.example/api"}}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	other := tok.AccessToken
	tests := []struct {
		name, uri, token string
		status           int
	}{
		{"resource token on its route", "/other/x", other, 200},
		{"default token on the resource's route", "/other/x", def, 401},
		{"resource token on a default route", "/api/items/1", other, 401},
		{"default token on a default route", "/api/items/1", def, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check(t, addr, forwarded{"GET", tt.uri, bearer(tt.token)})
			if got.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", got.StatusCode, tt.status)
			}
			if tt.status == 401 && !strings.Contains(got.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", got.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// refusedAfterRevocation checks that the authorizer at addr allows tok at
// GET path, revokes tok at s (RFC 7009) as c, and returns how soon after
// the revocation was acknowledged the authorizer refused it (401); it fails
// past within.
func refusedAfterRevocation(t *testing.T, addr string, s *server, c createdClient, path, tok string, within time.Duration) time.Duration {
	t.Helper()
	req := forwarded{"GET", path, bearer(tok)}
	if code := check(t, addr, req).StatusCode; code != 200 {
		t.Fatalf("before: %d", code)
	}
	if code := revokeRFC7009(t, s, c, "token="+tok); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	acked := time.Now()
	for check(t, addr, req).StatusCode != 401 {
		if time.Since(acked) > within {
			t.Fatalf("the revoked token is still allowed %v after the revocation", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(acked)
}

// decision is a request a gateway forwards and what the authorizer must
// answer: the status, the challenge's beginning ("" for none), and for an
// allowed request the client and credential kind of the identity headers.
type decision struct {
	name      string
	f         forwarded
	status    int
	challenge string
	client    string
	kind      string
}

// checkDecisions asks the authorizer at addr for each decision: the status,
// the challenge (none where none is wanted, and every 401 names one), and
// the identity headers, which only an allowed request carries.
func checkDecisions(t *testing.T, addr string, decisions []decision) {
	t.Helper()
	for _, tt := range decisions {
		t.Run(tt.name, func(t *testing.T) {
			resp := check(t, addr, tt.f)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			got := resp.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(got, tt.challenge) || (tt.challenge == "") != (got == "") || (tt.challenge == "" && tt.status == 401) {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if got := resp.Header.Get("X-Gatehouse-Client-Id"); got != tt.client {
				t.Errorf("client id %q, want %q", got, tt.client)
			}
			if got := resp.Header.Get("X-Gatehouse-Credential-Kind"); got != tt.kind {
				t.Errorf("credential kind %q, want %q", got, tt.kind)
			}
			if tt.client != "" && !strings.Contains(resp.Header.Get("X-Gatehouse-Scopes"), "inventory:read") {
				t.Errorf("scopes %q", resp.Header.Get("X-Gatehouse-Scopes"))
			}
		})
	}
}
