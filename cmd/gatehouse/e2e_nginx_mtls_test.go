package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nginxMTLSRoutes are the gateway routes plus one that takes a client
// certificate alone.
const nginxMTLSRoutes = gatewayRoutes + `  - methods: [GET]
    path: /partner/**
    scopes: [inventory:read]
    credentials: [mtls]
`

// TestNginxClientCertificate: the real nginx terminates the clients' mTLS
// (ssl_verify_client on, a partner CA and the platform CA) and states the verified
// certificate to Gatehouse in X-SSL-Client-Cert ($ssl_client_escaped_cert,
// as deploy/nginx/gatehouse.conf does); Gatehouse reads it with
// --authz-client-cert-header. A certificate-bound token (RFC 8705) passes
// with its certificate only, an mtls route takes the certificate alone,
// and a client cannot state a certificate of its own.
func TestNginxClientCertificate(t *testing.T) {
	bin := nginxOrSkip(t)
	dir := t.TempDir()
	pki := newPartnerPKI(t, dir)
	s, authzAddr, _ := startWithAuthz(t, nginxMTLSRoutes, "--tls-client-ca", pki.caPEM, "--authz-client-cert-header", "X-SSL-Client-Cert")

	cert, clientID := registerBoundPartner(t, s, pki)
	bound := boundToken(t, s, cert, clientID)
	other := pki.issue(t, "someone-else")
	// The certificate alone names its client only when the platform CA
	// issued it (the client id in a SAN URI).
	var platformClient createdClient
	s.cliJSON(t, &platformClient, "clients", "create", "--name", "Partner with a platform certificate", "--type", "first_party",
		"--grant-types", "client_credentials", "--scopes", "inventory:read")
	pc, pk := issueCertificate(t, s, platformClient.ClientID, "partner")
	platformCert, err := tls.LoadX509KeyPair(pc, pk)
	if err != nil {
		t.Fatal(err)
	}
	platformCA := filepath.Join(dir, "platform-ca.pem")
	if out, err := s.cli(t, "certs", "ca", "--out", platformCA); err != nil {
		t.Fatalf("certs ca: %v\n%s", err, out)
	}
	clientCAs := filepath.Join(dir, "client-cas.pem")
	var bundle []byte
	for _, f := range []string{pki.caPEM, platformCA} {
		b, err := os.ReadFile(f) //nolint:gosec // the test's own files
		if err != nil {
			t.Fatal(err)
		}
		bundle = append(bundle, b...)
	}
	if err := os.WriteFile(clientCAs, bundle, 0o600); err != nil {
		t.Fatal(err)
	}

	api := echoUpstream(t)
	prefix := t.TempDir()
	listen := freePort(t)
	conf := renderNginx(t, prefix, listen, authzAddr, strings.TrimPrefix(api.URL, "http://"))
	serverCert, serverKey := writeServerCert(t, pki, prefix)
	terminateMTLS(t, filepath.Join(prefix, "gatehouse.conf"), listen, serverCert, serverKey, clientCAs)
	startNginx(t, bin, prefix, conf, listen)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle)
	as := func(certs ...tls.Certificate) *http.Client {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			Certificates: certs, RootCAs: roots, ServerName: "api.example.com", MinVersion: tls.VersionTLS12}}}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	escaped := url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))

	tests := []struct {
		name   string
		client *http.Client
		path   string
		header map[string]string
		status int
		kind   string
		id     string
	}{
		{"bound token with its certificate", as(cert), "/api/items/1", bearer(bound), 200, "bearer", clientID},
		{"bound token with another certificate", as(other), "/api/items/1", bearer(bound), 401, "", ""},
		{"bound token, another certificate, the bound one stated by the client", as(other), "/api/items/1",
			map[string]string{"Authorization": "Bearer " + bound, "X-SSL-Client-Cert": escaped}, 401, "", ""},
		{"platform certificate alone on an mtls route", as(platformCert), "/partner/orders", nil, 200, "mtls", platformClient.ClientID},
		{"a certificate naming no client alone on an mtls route", as(other), "/partner/orders", nil, 401, "", ""},
		{"platform certificate alone where a token is needed", as(platformCert), "/api/items/1", nil, 401, "", ""},
		// nginx itself refuses a client without a certificate (400).
		{"no client certificate", as(), "/partner/orders", nil, 400, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := viaTLSGateway(t, tt.client, listen, tt.path, tt.header)
			if r.code != tt.status {
				t.Fatalf("status %d, want %d", r.code, tt.status)
			}
			if tt.status != 200 {
				if r.upstream != nil {
					t.Fatal("the request reached the API")
				}
				return
			}
			if got := r.upstream.Get("X-Gatehouse-Client-Id"); got != tt.id {
				t.Errorf("upstream client id %q, want %q", got, tt.id)
			}
			if got := r.upstream.Get("X-Gatehouse-Credential-Kind"); got != tt.kind {
				t.Errorf("upstream credential kind %q, want %q", got, tt.kind)
			}
			if r.upstream.Get("X-SSL-Client-Cert") != "" {
				t.Error("the certificate header reached the API")
			}
		})
	}
}

// boundToken gets a certificate-bound token for clientID over the
// server's mTLS listener, presenting cert.
func boundToken(t *testing.T, s *server, cert tls.Certificate, clientID string) string {
	t.Helper()
	clientTLS := &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // test server with a generated certificate
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://"+s.mtlsAddr(t)+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	access, _ := tok["access_token"].(string)
	if resp.StatusCode != 200 || access == "" {
		t.Fatalf("token over mTLS: %d %v", resp.StatusCode, tok)
	}
	if _, ok := jwtClaims(t, access)["cnf"]; !ok {
		t.Fatal("the token is not certificate-bound")
	}
	return access
}

// writeServerCert has the partner CA issue nginx's server certificate for
// api.example.com and loopback, and writes it and its key under dir.
func writeServerCert(t *testing.T, pki *partnerPKI, dir string) (certFile, keyFile string) {
	t.Helper()
	c := pki.issueTemplate(t, &x509.Certificate{Subject: pkix.Name{CommonName: "api.example.com"},
		DNSNames: []string{"api.example.com"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	keyDER, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	for f, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// terminateMTLS turns the rendered site's listener into TLS that requires
// a client certificate from caFile: the rest of the site, the certificate
// header to Gatehouse included, stays as deploy/nginx/gatehouse.conf has
// it.
func terminateMTLS(t *testing.T, site, listen, certFile, keyFile, caFile string) {
	t.Helper()
	b, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	plain := "listen " + listen + ";"
	if strings.Count(string(b), plain) != 1 {
		t.Fatalf("%s: %q not found once", site, plain)
	}
	tlsListen := fmt.Sprintf(`listen %s ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_client_certificate %s;
    ssl_verify_client on;`, listen, certFile, keyFile, caFile)
	if err := os.WriteFile(site, []byte(strings.Replace(string(b), plain, tlsListen, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// viaTLSGateway is viaGateway over HTTPS with client's certificates.
func viaTLSGateway(t *testing.T, client *http.Client, listen, path string, hdr map[string]string) nginxResult {
	t.Helper()
	return gatewayRequest(t, client, http.MethodGet, "https://"+listen+path, hdr)
}
