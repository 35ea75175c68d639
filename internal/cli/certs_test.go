package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/kek"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/keys"
	keyssql "github.com/gatehouse-dev/gatehouse/services/keys/sqlstore"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// newCertsHarness is a harness serving the real KeyManagementService over
// a Manager on SQLite; it returns the Manager too, to check against.
func newCertsHarness(t *testing.T) (*harness, *keys.Manager) {
	t.Helper()
	store, err := keyssql.New(t.Context(), dbtest.SQLiteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, kek.Size)
	_, _ = rand.Read(raw)
	k, err := kek.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.New(store, k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, last: map[string]proto.Message{}}
	srv := grpc.NewServer(grpc.UnaryInterceptor(h.requireKey))
	keysv1.RegisterKeyManagementServiceServer(srv, keys.NewServer(m))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	h.addr = lis.Addr().String()
	h.creds = writeCreds(t, map[string]string{"api_key": testKey, "grpc_addr": h.addr})
	return h, m
}

// writeCSR writes a P-256 CSR made from tmpl (nil: a plain one) and
// returns its path.
func writeCSR(t *testing.T, tmpl *x509.CertificateRequest) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{Subject: pkix.Name{CommonName: "partner"}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "partner.csr")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pemCert decodes the first PEM certificate in text, skipping anything
// before it, as PEM readers do.
func pemCert(t *testing.T, text string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("no PEM certificate in %q", text)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCerts(t *testing.T) {
	h, m := newCertsHarness(t)
	ca, err := m.CA(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pool, err := m.CAPool(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	verify := func(t *testing.T, cert *x509.Certificate, client string) {
		t.Helper()
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("the certificate does not chain to the platform CA: %v", err)
		}
		if cert.Subject.CommonName != client || len(cert.URIs) != 1 || cert.URIs[0].String() != "urn:gatehouse:client:"+client {
			t.Errorf("subject %v URIs %v, want client %s", cert.Subject, cert.URIs, client)
		}
	}

	t.Run("ca prints the CA PEM only", func(t *testing.T) {
		out := h.ok("certs", "ca")
		if !strings.HasPrefix(out, "-----BEGIN CERTIFICATE-----\n") || !strings.HasSuffix(out, "-----END CERTIFICATE-----\n") {
			t.Fatalf("certs ca:\n%s", out)
		}
		if got := pemCert(t, out); !got.Equal(ca) {
			t.Error("not the platform CA")
		}
		j := h.okJSON("certs", "ca")
		if got := pemCert(t, str(t, j, "certificate_pem")); !got.Equal(ca) || str(t, j, "serial") != strings.ToLower(ca.SerialNumber.Text(16)) || j["expire_time"] == nil {
			t.Errorf("certs ca -o json: %v", j)
		}
		file := filepath.Join(t.TempDir(), "ca.pem")
		out = h.ok("certs", "ca", "--out", file)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := pemCert(t, string(b)); !got.Equal(ca) || !strings.Contains(out, "Wrote the platform CA certificate to "+file) || kvValue(out, "serial") == "" {
			t.Errorf("certs ca --out: %s", out)
		}
	})

	var serials []string
	t.Run("issue prints the summary then the PEM", func(t *testing.T) {
		out := h.ok("certs", "issue", "--client", "c_partner", "--csr", writeCSR(t, nil))
		if !strings.Contains(out, "Issued certificate ") || kvValue(out, "client_id") != "c_partner" || kvValue(out, "thumbprint") == "" {
			t.Fatalf("certs issue:\n%s", out)
		}
		if req := h.lastRequest("IssueClientCertificate").(*keysv1.IssueClientCertificateRequest); req.GetValidity() != nil || req.GetClientId() != "c_partner" {
			t.Errorf("request %v, want no validity (the server's default)", req)
		}
		cert := pemCert(t, out)
		verify(t, cert, "c_partner")
		if kvValue(out, "serial") != strings.ToLower(cert.SerialNumber.Text(16)) || kvValue(out, "expire_time") != cert.NotAfter.UTC().Format(time.RFC3339) {
			t.Errorf("summary does not describe the certificate:\n%s", out)
		}
		if d := time.Until(cert.NotAfter); d < 89*24*time.Hour || d > 90*24*time.Hour {
			t.Errorf("valid for %v, want 90 days", d)
		}
		serials = append(serials, kvValue(out, "serial"))
	})

	t.Run("issue --out writes the file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "partner.crt")
		out := h.ok("certs", "issue", "--client", "c_partner", "--csr", writeCSR(t, nil), "--validity", "7d", "--out", file)
		if strings.Contains(out, "BEGIN CERTIFICATE") || kvValue(out, "certificate") != file {
			t.Fatalf("certs issue --out printed:\n%s", out)
		}
		if req := h.lastRequest("IssueClientCertificate").(*keysv1.IssueClientCertificateRequest); req.GetValidity().AsDuration() != 7*24*time.Hour {
			t.Errorf("validity sent %v, want 7d", req.GetValidity().AsDuration())
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cert := pemCert(t, string(b))
		verify(t, cert, "c_partner")
		if d := time.Until(cert.NotAfter); d < 6*24*time.Hour || d > 7*24*time.Hour {
			t.Errorf("valid for %v, want 7 days", d)
		}
		serials = append(serials, kvValue(out, "serial"))
	})

	t.Run("issue -o json", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "partner.crt")
		j := h.okJSON("certs", "issue", "--client", "c_partner", "--csr", writeCSR(t, nil), "--out", file)
		cert := pemCert(t, str(t, j, "certificate_pem"))
		verify(t, cert, "c_partner")
		if got := pemCert(t, str(t, j, "ca_certificate_pem")); !got.Equal(ca) {
			t.Error("ca_certificate_pem is not the CA")
		}
		if str(t, j, "serial") != strings.ToLower(cert.SerialNumber.Text(16)) || str(t, j, "client_id") != "c_partner" ||
			str(t, j, "thumbprint") != authn.CertThumbprint(cert) || str(t, j, "certificate_file") != file || j["expire_time"] == nil || j["start_time"] == nil {
			t.Errorf("certs issue -o json: %v", j)
		}
		serials = append(serials, str(t, j, "serial"))
	})

	t.Run("list", func(t *testing.T) {
		out := h.ok("certs", "list", "--client", "c_partner")
		for _, w := range append([]string{"SERIAL", "STATUS", "THUMBPRINT", "EXPIRES", "valid"}, serials...) {
			if !strings.Contains(out, w) {
				t.Errorf("certs list lacks %q:\n%s", w, out)
			}
		}
		j := h.okJSON("certs", "list", "--client", "c_partner")
		items, _ := j["certificates"].([]any)
		if len(items) != len(serials) {
			t.Fatalf("certs list -o json: %d certificates, want %d: %v", len(items), len(serials), j)
		}
		for _, it := range items {
			c := it.(map[string]any)
			verify(t, pemCert(t, str(t, c, "certificate_pem")), "c_partner")
			if str(t, c, "client_id") != "c_partner" || str(t, c, "thumbprint") == "" {
				t.Errorf("item %v", c)
			}
		}
		if out := h.ok("certs", "list", "--client", "c_nobody"); out != "No certificates for client c_nobody.\n" {
			t.Errorf("empty list: %q", out)
		}
		if j := h.okJSON("certs", "list", "--client", "c_nobody"); j["certificates"] == nil {
			t.Errorf("empty list -o json: %v, want certificates: []", j)
		}
	})

	t.Run("a private key is never sent", func(t *testing.T) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(key)
		before := h.lastRequest("IssueClientCertificate")
		for name, content := range map[string][]byte{
			"pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
			"der": der,
		} {
			path := filepath.Join(t.TempDir(), "partner-"+name+".key")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			r := h.run("certs", "issue", "--client", "c_partner", "--csr", path)
			assertFailed(t, r, 1, "holds a private key", "nothing was sent")
		}
		if h.lastRequest("IssueClientCertificate") != before {
			t.Error("a private key reached the server")
		}
	})

	dnsCSR := writeCSR(t, &x509.CertificateRequest{DNSNames: []string{"partner.example"}})
	failures := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no --client", []string{"certs", "issue", "--csr", dnsCSR}, 1, []string{"--client is required"}},
		{"no --csr", []string{"certs", "issue", "--client", "c_partner"}, 1, []string{"--csr is required"}},
		{"missing CSR file", []string{"certs", "issue", "--client", "c_partner", "--csr", "/nonexistent/partner.csr"}, 1, []string{"read --csr /nonexistent/partner.csr", "no such file"}},
		{"CSR with a SAN", []string{"certs", "issue", "--client", "c_partner", "--csr", dnsCSR}, 1, []string{"issue certificate for client c_partner", "csr_pem", "subject alternative names (DNS names)"}},
		{"bad client id", []string{"certs", "issue", "--client", "c/partner", "--csr", writeCSR(t, nil)}, 1, []string{"client_id"}},
		{"validity over 90 days", []string{"certs", "issue", "--client", "c_partner", "--csr", dnsCSR, "--validity", "91d"}, 1, []string{"--validity 91d is longer than the 90d"}},
		{"zero validity", []string{"certs", "issue", "--client", "c_partner", "--csr", dnsCSR, "--validity", "0"}, 2, []string{"must be positive"}},
		{"list without --client", []string{"certs", "list"}, 1, []string{"--client is required"}},
		{"unwritable --out", []string{"certs", "ca", "--out", "/nonexistent/dir/ca.pem"}, 1, []string{"write --out /nonexistent/dir/ca.pem"}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) { assertFailed(t, h.run(f.args...), f.code, f.want...) })
	}

	t.Run("help", func(t *testing.T) {
		r := h.runEnv(nil, "certs", "-h")
		out := r.stdout
		if r.code != 0 {
			t.Fatalf("certs -h: %+v", r)
		}
		for _, w := range []string{"issue", "list", "ca", "platform CA"} {
			if !strings.Contains(out, w) {
				t.Errorf("certs -h lacks %q:\n%s", w, out)
			}
		}
		if top := h.runEnv(nil, "help").stdout; !strings.Contains(top, "gatehouse certs issue --client ID --csr FILE") {
			t.Errorf("top usage lacks certs:\n%s", top)
		}
	})
}

// TestCertsServerDown: the usual message when the server is unreachable.
func TestCertsServerDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	h := &harness{t: t}
	h.creds = writeCreds(t, map[string]string{"api_key": testKey, "grpc_addr": addr})
	r := h.run("certs", "ca", "--timeout", "2s")
	assertFailed(t, r, 1, "get the platform CA", "cannot reach the Gatehouse server")
}
