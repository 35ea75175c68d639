package app

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// TestCheckServiceIdentity: a built-in service's identity by its name, a
// resource service's only with the validator role and a name of its own.
func TestCheckServiceIdentity(t *testing.T) {
	for _, tc := range []struct {
		name, role string
		wantErr    string // "" for issued
	}{
		{"token", "", ""},
		{"gateway", "", ""},
		{"orders", RoleValidator, ""},
		{"orders-api2", RoleValidator, ""},
		{"orders", "", `unknown service "orders"`},
		{"token", RoleValidator, "is a Gatehouse service"},
		{"gateway", RoleValidator, "is a Gatehouse service"},
		{"Orders", RoleValidator, "invalid name"},
		{"orders.example", RoleValidator, "invalid name"},
		{"", RoleValidator, "invalid name"},
		{strings.Repeat("o", 64), RoleValidator, "invalid name"},
		{"orders", "admin", `unknown role "admin"`},
		{"token", "service", `unknown role "service"`},
	} {
		err := CheckServiceIdentity(tc.name, tc.role)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q role %q: %v", tc.name, tc.role, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q role %q: %v, want %q", tc.name, tc.role, err, tc.wantErr)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%q role %q: not one line: %q", tc.name, tc.role, err)
		}
	}
}

// TestIssueValidatorCertificate: `gatehouse service-cert --name orders
// --role validator` writes an identity the validators give exactly the
// validator scopes, and never a built-in service's.
func TestIssueValidatorCertificate(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{DataDir: filepath.Join(dir, "data")}
	out := filepath.Join(dir, "certs")
	log := slog.New(slog.DiscardHandler)
	if err := IssueIdentityCertificate(t.Context(), cfg, log, "orders", RoleValidator, []string{"orders.internal"}, 0, out); err != nil {
		t.Fatal(err)
	}
	if err := IssueIdentityCertificate(t.Context(), cfg, log, "token", RoleValidator, []string{"x"}, 0, out); err == nil {
		t.Fatal("a validator identity issued under a built-in service's name")
	}
	if _, err := os.Stat(filepath.Join(out, "token.crt")); !os.IsNotExist(err) {
		t.Fatalf("token.crt written: %v", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(out, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	certFile, keyFile, _ := ServiceCertFiles(out, "orders")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ids := authn.NewServiceIdentities(pool, serviceScopes, authn.WithValidatorRole(validatorScopes...))
	if name, ok := ids.Identify(pair.Leaf); ok {
		t.Fatalf("identified as service %q", name)
	}
	if name, ok := ids.IdentifyValidator(pair.Leaf); !ok || name != "orders" {
		t.Fatalf("identified as validator %q %v, want orders", name, ok)
	}
	if !slices.Equal(validatorScopes, []string{"gatehouse:validator"}) {
		t.Fatalf("validator scopes %v", validatorScopes)
	}
}
