package token_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/mtls"
	"github.com/gatehouse-dev/gatehouse/services/token"
)

// testCA issues certificates for the mTLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

var serials = big.NewInt(100)

// leaf issues a client certificate; ca nil makes it self-signed.
func leaf(t *testing.T, ca *testCA, subject pkix.Name, uris ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serials.Add(serials, big.NewInt(1))
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).Set(serials), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, u := range uris {
		parsed, _ := url.Parse(u)
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	parent, signer := tmpl, any(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func thumbprintOf(c tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// mtlsServer serves the env's handlers over TLS with the RFC 8705
// listener configuration; clientWith returns a client presenting cert.
type mtlsServer struct {
	srv *httptest.Server
}

func (e *env) mtlsServer(t *testing.T, trust *mtls.Trust) *mtlsServer {
	t.Helper()
	mux := http.NewServeMux()
	e.svc.Routes(mux)
	srv := httptest.NewUnstartedServer(mux)
	cfg := mtls.ServerConfig(tls.Certificate{}, trust)
	cfg.Certificates = nil // httptest's own
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &mtlsServer{srv: srv}
}

func (m *mtlsServer) token(t *testing.T, cert *tls.Certificate, form url.Values, basicAuth *[2]string) (int, map[string]any, error) {
	t.Helper()
	c := m.srv.Client()
	tr := c.Transport.(*http.Transport).Clone()
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	c = &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, m.srv.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicAuth != nil {
		req.SetBasicAuth(basicAuth[0], basicAuth[1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	r := response{status: resp.StatusCode, header: resp.Header}
	buf := new(strings.Builder)
	_, _ = bufCopy(buf, resp)
	r.body = []byte(buf.String())
	return r.status, r.json(t), nil
}

// TestTLSClientAuth is checklist items 29, 30, 33 and 34.
func TestTLSClientAuth(t *testing.T) {
	ca, rogue := newTestCA(t, "Partner CA"), newTestCA(t, "Rogue CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	trust := mtls.NewTrust(pool, nil)
	e := newEnv(t, withClientCerts(trust))

	certA := leaf(t, ca, pkix.Name{CommonName: "partner-a", Organization: []string{"Test"}})
	certB := leaf(t, ca, pkix.Name{CommonName: "partner-b", Organization: []string{"Test"}}, "urn:gatehouse:client:b")
	selfSigned := leaf(t, nil, pkix.Name{CommonName: "self"})
	otherSelf := leaf(t, nil, pkix.Name{CommonName: "self"})
	rogueCert := leaf(t, rogue, pkix.Name{CommonName: "partner-a", Organization: []string{"Test"}})

	mk := func(name, method string, tlsAuth *clientsv1.TLSClientAuth) registered {
		return e.create(&clientsv1.Client{
			Name: name, Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"orders:read"}, TokenEndpointAuthMethod: method, TlsClientAuth: tlsAuth,
		})
	}
	a := mk("A", "tls_client_auth", &clientsv1.TLSClientAuth{SubjectDn: "CN=partner-a,O=Test", BoundAccessTokens: true})
	b := mk("B", "tls_client_auth", &clientsv1.TLSClientAuth{SanUri: "urn:gatehouse:client:b"})
	s := mk("S", "self_signed_tls_client_auth", &clientsv1.TLSClientAuth{CertificateThumbprints: []string{thumbprintOf(selfSigned)}, BoundAccessTokens: true})
	m := e.mtlsServer(t, trust)
	form := func(id string) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}}
		if id != "" {
			f.Set("client_id", id)
		}
		return f
	}

	status, body, err := m.token(t, &certA, form(a.id), nil)
	if err != nil || status != 200 {
		t.Fatalf("tls_client_auth with the registered DN: %d %v %v", status, body, err)
	}
	_, claims := decodeJWT(t, body["access_token"].(string))
	if cnf, _ := claims["cnf"].(map[string]any); cnf["x5t#S256"] != thumbprintOf(certA) {
		t.Fatalf("cnf %v, want x5t#S256 %s", claims["cnf"], thumbprintOf(certA))
	}
	if r := e.introspect(e.introspector, "token="+body["access_token"].(string)); !strings.Contains(string(r.body), thumbprintOf(certA)) {
		t.Fatalf("introspection lacks cnf: %s", r.body)
	}
	if status, body, _ := m.token(t, &certB, form(b.id), nil); status != 200 {
		t.Fatalf("tls_client_auth by SAN URI: %d %v", status, body)
	} else if _, claims := decodeJWT(t, body["access_token"].(string)); claims["cnf"] != nil {
		t.Fatal("a client without bound_access_tokens got a bound token")
	}
	if status, body, _ := m.token(t, &selfSigned, form(s.id), nil); status != 200 {
		t.Fatalf("self_signed_tls_client_auth: %d %v", status, body)
	}

	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		client string
		status int
		error  string
	}{
		{"no certificate", nil, a.id, 401, "invalid_client"},
		{"another trusted DN", &certB, a.id, 401, "invalid_client"},
		{"client B with A's certificate", &certA, b.id, 401, "invalid_client"},
		{"no client_id", &certA, "", 400, "invalid_request"},
		{"unregistered self-signed", &otherSelf, s.id, 401, "invalid_client"},
		{"CA certificate for a self-signed client", &certA, s.id, 401, "invalid_client"},
		{"secret client with a certificate", &certA, e.partner.id, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var basicAuth *[2]string
			f := form(tc.client)
			if tc.client == e.partner.id {
				basicAuth = &[2]string{e.partner.id, e.partner.secret}
				f.Del("client_id")
			}
			status, body, err := m.token(t, tc.cert, f, basicAuth)
			if err != nil || status != tc.status || body["error"] != tc.error {
				t.Fatalf("%d %v %v; want %d %s", status, body, err, tc.status, tc.error)
			}
		})
	}
	if _, _, err := m.token(t, &rogueCert, form(a.id), nil); err == nil {
		t.Fatal("a certificate from a rogue CA passed the handshake")
	}

	meta := e.do(nil, request{method: http.MethodGet, ctype: "-", path: "/.well-known/oauth-authorization-server"}).json(t)
	if meta["tls_client_certificate_bound_access_tokens"] != true || !strings.Contains(strings.Join(strs(meta["token_endpoint_auth_methods_supported"]), " "), "tls_client_auth") {
		t.Fatalf("metadata: %v", meta)
	}
	if aliases, _ := meta["mtls_endpoint_aliases"].(map[string]any); aliases["token_endpoint"] != mtlsBase+"/oauth2/token" {
		t.Fatalf("mtls_endpoint_aliases: %v", meta["mtls_endpoint_aliases"])
	}
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

var _ = token.ReasonCertificateRefused

func bufCopy(dst *strings.Builder, resp *http.Response) (int64, error) {
	b := make([]byte, 32<<10)
	var n int64
	for {
		k, err := resp.Body.Read(b)
		dst.Write(b[:k])
		n += int64(k)
		if err != nil {
			return n, nil
		}
	}
}

// TestTLSClientAuthMatchers: each registered subject/SAN matcher of
// tls_client_auth accepts its certificate and refuses another.
func TestTLSClientAuthMatchers(t *testing.T) {
	ca := newTestCA(t, "Partner CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	trust := mtls.NewTrust(pool, nil)
	e := newEnv(t, withClientCerts(trust))
	m := e.mtlsServer(t, trust)
	issue := func(edit func(*x509.Certificate)) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		serials.Add(serials, big.NewInt(1))
		tmpl := &x509.Certificate{SerialNumber: new(big.Int).Set(serials), Subject: pkix.Name{CommonName: "m"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		edit(tmpl)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	u, _ := url.Parse("spiffe://partner.example/warehouse")
	cases := []struct {
		name string
		reg  *clientsv1.TLSClientAuth
		good func(*x509.Certificate)
	}{
		{"subject DN", &clientsv1.TLSClientAuth{SubjectDn: "CN=warehouse,OU=Ops,O=Partner"}, func(c *x509.Certificate) {
			c.Subject = pkix.Name{CommonName: "warehouse", OrganizationalUnit: []string{"Ops"}, Organization: []string{"Partner"}}
		}},
		{"SAN DNS", &clientsv1.TLSClientAuth{SanDns: "api.partner.example"}, func(c *x509.Certificate) { c.DNSNames = []string{"api.partner.example"} }},
		{"SAN URI", &clientsv1.TLSClientAuth{SanUri: u.String()}, func(c *x509.Certificate) { c.URIs = []*url.URL{u} }},
		{"SAN IP", &clientsv1.TLSClientAuth{SanIp: "192.0.2.7"}, func(c *x509.Certificate) { c.IPAddresses = []net.IP{net.ParseIP("192.0.2.7")} }},
		{"SAN email", &clientsv1.TLSClientAuth{SanEmail: "ops@partner.example"}, func(c *x509.Certificate) { c.EmailAddresses = []string{"ops@partner.example"} }},
	}
	other := issue(func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "someone"}
		c.DNSNames = []string{"other.example"}
		c.IPAddresses = []net.IP{net.ParseIP("192.0.2.8")}
		c.EmailAddresses = []string{"x@other.example"}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := e.create(&clientsv1.Client{
				Name: tc.name, Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
				Scopes: []string{"orders:read"}, TokenEndpointAuthMethod: "tls_client_auth", TlsClientAuth: tc.reg,
			})
			good := issue(tc.good)
			f := url.Values{"grant_type": {"client_credentials"}, "client_id": {cl.id}}
			if status, body, err := m.token(t, &good, f, nil); err != nil || status != 200 {
				t.Fatalf("matching certificate: %d %v %v", status, body, err)
			}
			if status, body, _ := m.token(t, &other, f, nil); status != 401 || body["error"] != "invalid_client" {
				t.Fatalf("other certificate: %d %v", status, body)
			}
		})
	}
}
