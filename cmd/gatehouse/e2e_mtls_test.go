package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/partner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// partnerPKI is a test CA with partner certificates, written where the
// server can read the CA.
type partnerPKI struct {
	caPEM  string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	next   int64
}

// registerBoundPartner registers the partner "warehouse" of pki: a third
// party authenticated by its certificate (tls_client_auth,
// CN=warehouse,O=Partner) whose tokens are bound to it; it returns the
// certificate and the client id.
func registerBoundPartner(t *testing.T, s *server, pki *partnerPKI) (tls.Certificate, string) {
	t.Helper()
	var registered createdClient
	s.cliJSON(t, &registered, "clients", "create", "--name", "Warehouse (mTLS)", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "inventory:read", "--auth-method", "tls_client_auth",
		"--tls-subject-dn", "CN=warehouse,O=Partner", "--bound-access-tokens")
	return pki.issue(t, "warehouse"), registered.ClientID
}

func newPartnerPKI(t *testing.T, dir string) *partnerPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Partner test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &partnerPKI{caCert: cert, caKey: key, next: 100, caPEM: filepath.Join(dir, "partner-ca.pem")}
	if err := os.WriteFile(p.caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *partnerPKI) issue(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	return p.issueValid(t, cn, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
}

func (p *partnerPKI) issueValid(t *testing.T, cn string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	return p.issueTemplate(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"Partner"}},
		NotBefore: notBefore, NotAfter: notAfter})
}

// issueTemplate signs tmpl (subject, SANs, validity) with a fresh serial
// and key, as a client certificate unless tmpl names another usage.
func (p *partnerPKI) issueTemplate(t *testing.T, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.next++
	tmpl.SerialNumber = big.NewInt(p.next)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if tmpl.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// mtlsAddr reads the mTLS address from the server's start log.
func (s *server) mtlsAddr(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`"mtls_addr":"([^"]+)"`).FindStringSubmatch(s.logs.String())
	if m == nil {
		t.Fatal("no mtls_addr in the logs")
	}
	return m[1]
}

// TestEndToEndMTLS: a partner with a certificate from a trusted CA gets a
// certificate-bound token over the mTLS listener (HTTPS) and calls the
// example API with it over an mTLS gRPC channel and over HTTPS.
func TestEndToEndMTLS(t *testing.T) {
	dir := t.TempDir()
	pki := newPartnerPKI(t, dir)
	s := start(t, filepath.Join(dir, "data"), "--example-inventory", "--tls-client-ca", pki.caPEM)
	base := "https://" + s.mtlsAddr(t)
	cert, clientID := registerBoundPartner(t, s, pki)

	// The embedded default's server certificate is generated at start: the
	// partner pins it here by skipping verification only of the server;
	// the client certificate is what is under test.
	clientTLS := &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // test server with a generated certificate
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	resp, err := hc.PostForm(base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token over mTLS: %d %v", resp.StatusCode, tok)
	}
	access := tok["access_token"].(string)
	sum := sha256.Sum256(cert.Certificate[0])
	if cnf, _ := jwtClaims(t, access)["cnf"].(map[string]any); cnf["x5t#S256"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatalf("cnf %v", jwtClaims(t, access)["cnf"])
	}

	// The example API over HTTPS on the same listener.
	req, _ := http.NewRequestWithContext(context.Background(), "GET", base+"/v1/inventory/items", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("REST over mTLS with the bound token: %d", resp.StatusCode)
	}

	// And over an mTLS gRPC channel, as a partner builds it with
	// pkg/partner: its certificate, the server pinned as the only root,
	// and a bound token fetched and put on every call.
	serverPool := x509.NewCertPool()
	probe, err := tls.Dial("tcp", s.mtlsAddr(t), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // reading the generated certificate to pin it
	if err != nil {
		t.Fatal(err)
	}
	serverPool.AddCert(probe.ConnectionState().PeerCertificates[0])
	probe.Close()
	p := partner.Config{TokenURL: base + "/oauth2/token", ClientID: clientID, Certificate: cert, RootCAs: serverPool, Scopes: []string{"inventory:read"}}
	conn, err := p.Dial(s.mtlsAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := inventoryv1.NewInventoryServiceClient(conn).ListItems(context.Background(), &inventoryv1.ListItemsRequest{}); err != nil {
		t.Fatalf("gRPC over mTLS through pkg/partner: %v", err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+access)

	// The same token without the certificate it is bound to: over the
	// plain listeners, over TLS without a certificate, and with another
	// partner's certificate, by REST and gRPC alike.
	a := newAPI(t, s)
	if rc, gc := a.call(t, "Bearer "+access); rc != 401 || gc != codes.Unauthenticated {
		t.Fatalf("bound token over the plain listeners: REST %d, gRPC %v", rc, gc)
	}
	other := pki.issue(t, "someone-else")
	for name, tlsCfg := range map[string]*tls.Config{
		"no certificate":         {InsecureSkipVerify: true, MinVersion: tls.VersionTLS12},                                         //nolint:gosec // as above
		"another partner's cert": {Certificates: []tls.Certificate{other}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // as above
	} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
		req, _ := http.NewRequestWithContext(context.Background(), "GET", base+"/v1/inventory/items", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s over HTTPS: %d %q", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		gconn, err := grpc.NewClient(s.mtlsAddr(t), grpc.WithTransportCredentials(grpccreds.NewTLS(tlsCfg)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = inventoryv1.NewInventoryServiceClient(gconn).ListItems(ctx, &inventoryv1.ListItemsRequest{})
		gconn.Close()
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s over gRPC: %v", name, err)
		}
	}
	if !strings.Contains(s.logs.String(), `"reason":"certificate_binding_mismatch"`) {
		t.Error("binding refusals not audited as certificate_binding_mismatch")
	}

	// Without a trusted, valid certificate there is no token and no API:
	// the handshake fails.
	for name, bad := range map[string]tls.Certificate{
		"rogue CA": newPartnerPKI(t, t.TempDir()).issue(t, "warehouse"),
		"expired":  pki.issueValid(t, "warehouse", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)),
	} {
		badTLS := &tls.Config{Certificates: []tls.Certificate{bad}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // as above
		bc := &http.Client{Transport: &http.Transport{TLSClientConfig: badTLS}, Timeout: 10 * time.Second}
		if resp, err := bc.PostForm(base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}}); err == nil {
			resp.Body.Close()
			t.Errorf("%s certificate got through the handshake at the token endpoint: %d", name, resp.StatusCode)
		}
		gconn, err := grpc.NewClient(s.mtlsAddr(t), grpc.WithTransportCredentials(grpccreds.NewTLS(badTLS)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = inventoryv1.NewInventoryServiceClient(gconn).ListItems(ctx, &inventoryv1.ListItemsRequest{})
		gconn.Close()
		if status.Code(err) != codes.Unavailable {
			t.Errorf("%s certificate at the API over gRPC: %v, want a failed handshake (Unavailable)", name, err)
		}
	}
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}, Timeout: 10 * time.Second} //nolint:gosec // as above
	resp, err = plain.PostForm(base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token without a certificate: %d, want 401", resp.StatusCode)
	}
	meta := s.rest(t, "GET", "/.well-known/oauth-authorization-server", nil, "")
	if meta.body["tls_client_certificate_bound_access_tokens"] != true || !strings.Contains(meta.rawBody, base+"/oauth2/token") {
		t.Fatalf("metadata: %s", meta.rawBody)
	}
}

// TestEndToEndPartnerCA: a partner sends a CSR, the admin issues its
// certificate from the platform CA with the CLI, and the partner — trusting
// only the platform CA — gets bound tokens and calls the API over mTLS
// gRPC with pkg/partner. Revoking the certificate's serial refuses it at
// the handshake and at the API.
func TestEndToEndPartnerCA(t *testing.T) {
	dir := t.TempDir()
	s := start(t, filepath.Join(dir, "data"), "--example-inventory")
	var reg createdClient
	s.cliJSON(t, &reg, "clients", "create", "--name", "Logistics", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "inventory:read", "--auth-method", "tls_client_auth",
		"--bound-access-tokens", "--tls-san-uri", "urn:gatehouse:client:PLACEHOLDER")
	// The SAN URI names the client id, known only now.
	if _, err := s.cli(t, "clients", "update", reg.ClientID, "--auth-method", "tls_client_auth",
		"--tls-san-uri", "urn:gatehouse:client:"+reg.ClientID, "--bound-access-tokens"); err != nil {
		t.Fatal(err)
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "anything"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csrFile, certFile, caFile := filepath.Join(dir, "p.csr"), filepath.Join(dir, "p.pem"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(csrFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), 0o600); err != nil {
		t.Fatal(err)
	}
	var issued struct {
		Serial string `json:"serial"`
	}
	s.cliJSON(t, &issued, "certs", "issue", "--client", reg.ClientID, "--csr", csrFile, "--out", certFile)
	if _, err := s.cli(t, "certs", "ca", "--out", caFile); err != nil {
		t.Fatal(err)
	}
	certPEM, _ := os.ReadFile(certFile)
	caPEM, _ := os.ReadFile(caFile)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("certs ca printed no certificate")
	}

	if out, err := s.cli(t, "certs", "issue", "--client", "c_nobody", "--csr", csrFile, "--out", filepath.Join(dir, "x.pem")); err == nil {
		t.Fatalf("certs issue for an unknown client succeeded: %s", out)
	}

	addr := s.mtlsAddr(t)
	alone := certAlone(t, addr, cert, roots)
	tokenWithCurl(t, addr, certFile, keyDER, caFile, reg.ClientID)
	p := partner.Config{TokenURL: "https://" + addr + "/oauth2/token", ClientID: reg.ClientID, Certificate: cert, RootCAs: roots}
	conn, err := p.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	inv := inventoryv1.NewInventoryServiceClient(conn)
	if _, err := inv.ListItems(context.Background(), &inventoryv1.ListItemsRequest{}); err != nil {
		t.Fatalf("partner with a CSR-issued certificate: %v", err)
	}

	if _, err := s.cli(t, "revoke", "certificate", issued.Serial, "--reason", "key compromised"); err != nil {
		t.Fatal(err)
	}
	// The open connection still has the certificate: the API refuses it.
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := inv.ListItems(context.Background(), &inventoryv1.ListItemsRequest{})
		if status.Code(err) == codes.Unauthenticated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked certificate still accepted on an open connection: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// So is the certificate alone, on the same connection.
	if _, err := alone.ListItems(context.Background(), &inventoryv1.ListItemsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("revoked certificate alone: %v", err)
	}
	// A new connection fails the handshake.
	c, err := tls.Dial("tcp", addr, p.TLSConfig())
	if err == nil {
		_, err = c.Write([]byte("x"))
		if err == nil {
			_, err = c.Read(make([]byte, 1))
		}
		c.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("handshake with a revoked certificate: %v", err)
	}
}

// certAlone: the example API's read methods take the partner's certificate
// alone as the credential (their rule lists CREDENTIAL_KIND_MTLS), over
// mTLS gRPC and over HTTPS through the REST facade; the write methods do
// not.
//
// It returns the gRPC client, whose connection stays open.
func certAlone(t *testing.T, addr string, cert tls.Certificate, roots *x509.CertPool) inventoryv1.InventoryServiceClient {
	t.Helper()
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12}
	gconn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(grpccreds.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gconn.Close() })
	inv := inventoryv1.NewInventoryServiceClient(gconn)
	if _, err := inv.ListItems(context.Background(), &inventoryv1.ListItemsRequest{}); err != nil {
		t.Fatalf("certificate alone over gRPC: %v", err)
	}
	if _, err := inv.CreateItem(context.Background(), &inventoryv1.CreateItemRequest{Item: &inventoryv1.Item{Name: "crate", Quantity: 1}}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("certificate alone at a method that does not take it: %v, want Unauthenticated", err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/inventory/items", "", 200},
		{"POST", "/v1/inventory/items", `{"name":"crate","quantity":1}`, 401},
	} {
		req, _ := http.NewRequestWithContext(context.Background(), c.method, "https://"+addr+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Fatalf("certificate alone, REST %s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}
	return inv
}

// tokenWithCurl drives the token endpoint with an independent client, as
// the README tour does: curl with the partner's certificate and key.
func tokenWithCurl(t *testing.T, addr, certFile string, keyDER []byte, caFile, clientID string) {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is not installed; under CI the independent-client check must run")
		}
		t.Log("curl not installed: skipping the independent-client check")
		return
	}
	keyFile := filepath.Join(filepath.Dir(certFile), "curl-key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, "--silent", "--show-error", "--fail-with-body",
		"--cacert", caFile, "--cert", certFile, "--key", keyFile,
		"--data-urlencode", "grant_type=client_credentials", "--data-urlencode", "client_id="+clientID,
		"https://"+addr+"/oauth2/token").CombinedOutput()
	if err != nil {
		t.Fatalf("curl --cert at the token endpoint: %v: %s", err, out)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(out, &tok); err != nil || tok.AccessToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("curl got %s", out)
	}
	if cnf, _ := jwtClaims(t, tok.AccessToken)["cnf"].(map[string]any); cnf["x5t#S256"] == nil {
		t.Fatalf("token from curl is not bound: %v", jwtClaims(t, tok.AccessToken))
	}
}

// TestEndToEndTLSClientAuthMatchers: tls_client_auth with each of RFC 8705
// §2.1.2's subject matchers, against the binary: the certificate with the
// registered value gets a token, one from the same CA with a near miss
// does not.
func TestEndToEndTLSClientAuthMatchers(t *testing.T) {
	dir := t.TempDir()
	pki := newPartnerPKI(t, dir)
	s := start(t, filepath.Join(dir, "data"), "--example-inventory", "--tls-client-ca", pki.caPEM)
	base := "https://" + s.mtlsAddr(t)
	tests := []struct {
		name        string
		flag, value string
		good, bad   *x509.Certificate
	}{
		{"subject DN", "--tls-subject-dn", "CN=m-dn,O=Partner",
			&x509.Certificate{Subject: pkix.Name{CommonName: "m-dn", Organization: []string{"Partner"}}},
			&x509.Certificate{Subject: pkix.Name{CommonName: "m-dn", Organization: []string{"Partners"}}}},
		{"SAN DNS", "--tls-san-dns", "api.partner.example",
			&x509.Certificate{DNSNames: []string{"other.example", "api.partner.example"}},
			&x509.Certificate{DNSNames: []string{"api.partner.example.evil"}}},
		{"SAN URI", "--tls-san-uri", "spiffe://partner.example/warehouse",
			&x509.Certificate{URIs: []*url.URL{{Scheme: "spiffe", Host: "partner.example", Path: "/warehouse"}}},
			&x509.Certificate{URIs: []*url.URL{{Scheme: "spiffe", Host: "partner.example", Path: "/warehouse2"}}}},
		{"SAN IP", "--tls-san-ip", "192.0.2.10",
			&x509.Certificate{IPAddresses: []net.IP{net.ParseIP("192.0.2.10")}},
			&x509.Certificate{IPAddresses: []net.IP{net.ParseIP("192.0.2.11")}}},
		{"SAN email", "--tls-san-email", "ops@partner.example",
			&x509.Certificate{EmailAddresses: []string{"ops@partner.example"}},
			&x509.Certificate{EmailAddresses: []string{"ops@partner.example.org"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reg createdClient
			s.cliJSON(t, &reg, "clients", "create", "--name", "Matcher "+tt.name, "--type", "third_party",
				"--grant-types", "client_credentials", "--scopes", "inventory:read", "--auth-method", "tls_client_auth",
				tt.flag, tt.value, "--bound-access-tokens")
			for _, c := range []struct {
				tmpl *x509.Certificate
				want int
			}{{tt.good, 200}, {tt.bad, 401}} {
				cert := pki.issueTemplate(t, c.tmpl)
				hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{ //nolint:gosec // test server with a generated certificate
					Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}, Timeout: 10 * time.Second}
				resp, err := hc.PostForm(base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {reg.ClientID}})
				if err != nil {
					t.Fatal(err)
				}
				var body map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				hc.CloseIdleConnections()
				if resp.StatusCode != c.want {
					t.Fatalf("%s: %d %v, want %d", tt.name, resp.StatusCode, body, c.want)
				}
				if c.want == 401 && body["error"] != "invalid_client" {
					t.Fatalf("refusal %v, want invalid_client", body)
				}
			}
		})
	}
}
