package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TestTransport: the admin key goes in plaintext to a loopback address
// only; --tls with --ca-file reaches a server with a private CA, and the
// server's certificate is checked.
func TestTransport(t *testing.T) {
	h := newHarness(t)
	if r := h.run("scopes", "list", "--server", "192.0.2.1:9090"); r.code == 0 || !strings.Contains(r.stderr, "refusing to send the admin API key in plaintext") {
		t.Fatalf("plaintext to a remote address: %d %s", r.code, r.stderr)
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12,
	})), grpc.UnaryInterceptor(h.requireKey))
	clientsv1.RegisterClientRegistryServiceServer(srv, h.reg)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	addr := lis.Addr().String()

	if out := h.ok("scopes", "list", "--server", addr, "--ca-file", caFile); !strings.Contains(out, "orders:read") {
		t.Fatalf("scopes list over TLS:\n%s", out)
	}
	if r := h.run("scopes", "list", "--server", addr, "--tls"); r.code == 0 {
		t.Fatal("a server certificate from an unknown CA was accepted")
	}
	if r := h.run("scopes", "list", "--server", addr); r.code == 0 {
		t.Fatal("plaintext to a TLS server succeeded")
	}
}
