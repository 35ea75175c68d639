package app

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// TestIssueServiceCertificate: `gatehouse service-cert` writes a service's
// identity, its key readable by the owner only, and the platform CA that
// verifies it; the CA is the key service's, the same on every call.
func TestIssueServiceCertificate(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{DataDir: filepath.Join(dir, "data")}
	out := filepath.Join(dir, "certs")
	log := slog.New(slog.DiscardHandler)
	for _, svc := range []string{"token", "gateway"} {
		if err := IssueServiceCertificate(t.Context(), cfg, log, svc, []string{"127.0.0.1", "localhost"}, 0, out); err != nil {
			t.Fatal(err)
		}
	}
	caPEM, err := os.ReadFile(filepath.Join(out, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	for _, svc := range []string{"token", "gateway"} {
		certFile, keyFile, _ := ServiceCertFiles(out, svc)
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s key mode %v %v", svc, st.Mode(), err)
		}
		if name, ok := authn.NewServiceIdentities(pool, serviceScopes).Identify(pair.Leaf); !ok || name != svc {
			t.Fatalf("identified as %q %v, want %s", name, ok, svc)
		}
	}
	for _, bad := range []struct {
		service string
		hosts   []string
	}{{"billing", []string{"x"}}, {"token", nil}} {
		if err := IssueServiceCertificate(t.Context(), cfg, log, bad.service, bad.hosts, 0, out); err == nil {
			t.Errorf("%q %q: issued", bad.service, bad.hosts)
		}
	}
}
