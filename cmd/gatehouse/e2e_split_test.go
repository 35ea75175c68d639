package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
)

// startService runs `gatehouse serve <args>` for a service that keeps no
// admin credentials (a split deployment's resource service), and waits
// until its log names its addresses and /readyz answers.
func startService(t *testing.T, args ...string) *server {
	t.Helper()
	args = append(append([]string{"serve"}, args...),
		"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--mtls-addr", "127.0.0.1:0", "--shutdown-timeout", "5s")
	s := &server{t: t, dataDir: t.TempDir(), args: args, logs: &syncBuffer{}, exited: make(chan error, 1)}
	s.cmd = exec.Command(binary, append(args, "--data-dir", s.dataDir)...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	s.cmd.Env = cleanEnv()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(s.stop)
	serving := regexp.MustCompile(`"grpc_addr":"([^"]+)","http_addr":"([^"]+)"`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("%v did not become ready; logs:\n%s", args, s.logs)
		}
		select {
		case err := <-s.exited:
			t.Fatalf("%v exited early: %v; logs:\n%s", args, err, s.logs)
		default:
		}
		if m := serving.FindStringSubmatch(s.logs.String()); m != nil {
			s.creds.GRPCAddr, s.creds.HTTPAddr = m[1], m[2]
			if ready(s.creds.HTTPAddr) {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serviceIdentity registers a client for a service of a split deployment,
// with the given scopes, and issues its certificate from the platform CA:
// it returns the certificate, key and CA files.
func serviceIdentity(t *testing.T, s *server, name string, scopes string) (certFile, keyFile, caFile string) {
	t.Helper()
	dir := t.TempDir()
	var reg createdClient
	s.cliJSON(t, &reg, "clients", "create", "--name", name, "--type", "first_party",
		"--grant-types", "client_credentials", "--scopes", scopes)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csrFile := filepath.Join(dir, "svc.csr")
	certFile, keyFile, caFile = filepath.Join(dir, "svc.pem"), filepath.Join(dir, "svc-key.pem"), filepath.Join(dir, "ca.pem")
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for f, b := range map[string][]byte{
		csrFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}),
		keyFile: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.cli(t, "certs", "issue", "--client", reg.ClientID, "--csr", csrFile, "--out", certFile); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cli(t, "certs", "ca", "--out", caFile); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, caFile
}

// TestEndToEndSplitInventory: the example API runs as two processes of its
// own, as a platform service would, beside Gatehouse: they accept its
// tokens (JWKS over HTTP) and API keys (verified by the registry over mTLS
// gRPC, with the inventory service's own platform-CA certificate), follow
// its revocations, and answer Unavailable — not hang — when the registry
// is gone.
func TestEndToEndSplitInventory(t *testing.T) {
	natsURL := externalNATS(t)
	s := start(t, filepath.Join(t.TempDir(), "data"), "--example-inventory", "--nats-url", natsURL)
	cert, key, ca := serviceIdentity(t, s, "inventory service", "gatehouse:internal")
	peer := s.mtlsAddr(t)
	var replicas []*api
	var procs []*server
	for range 2 {
		r := startService(t, "inventory", "--nats-url", natsURL, "--issuer", "http://"+s.creds.HTTPAddr,
			"--peer-clients", peer, "--peer-revocation", peer,
			"--peer-cert", cert, "--peer-key", key, "--peer-ca", ca, "--peer-timeout", "2s")
		replicas = append(replicas, newAPI(t, r))
		procs = append(procs, r)
	}
	m := setupM2M(t, s)

	// A partner with a platform-CA certificate calls a replica with the
	// certificate alone: the replica looks its client up at the registry.
	pc, pk, _ := serviceIdentity(t, s, "partner with a certificate", "inventory:read")
	partnerCert, err := tls.LoadX509KeyPair(pc, pk)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range procs {
		//nolint:gosec // the replica's listener certificate is generated at start; the client certificate is under test
		conn, err := grpc.NewClient(r.mtlsAddr(t), grpc.WithTransportCredentials(grpccreds.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{partnerCert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})))
		if err != nil {
			t.Fatal(err)
		}
		_, err = inventoryv1.NewInventoryServiceClient(conn).ListItems(context.Background(), &inventoryv1.ListItemsRequest{})
		conn.Close()
		if err != nil {
			t.Fatalf("certificate alone at a replica: %v", err)
		}
	}
	tok := "Bearer " + m.token(t, m.reader)
	var k createdKey
	s.cliJSON(t, &k, "apikeys", "create", "--client", m.reader.ClientID, "--scopes", "inventory:read")
	apiKey := "ApiKey " + k.APIKey
	for i, r := range replicas {
		r.accepted(t, "token at replica "+string(rune('A'+i)), tok)
		r.accepted(t, "API key at replica "+string(rune('A'+i)), apiKey)
		r.refusedAs(t, "no credential", "", 401, codes.Unauthenticated)
	}

	// Revocations made at Gatehouse reach both replicas.
	if code := revokeRFC7009(t, s, m.reader, "token="+tok[len("Bearer "):]); code != 200 {
		t.Fatalf("RFC 7009 revoke: %d", code)
	}
	if _, err := s.cli(t, "apikeys", "revoke", "--client", m.reader.ClientID, "--key", k.KeyID); err != nil {
		t.Fatal(err)
	}
	for i, r := range replicas {
		d1 := r.refusedSoon(t, "revoked token", tok)
		d2 := r.refusedSoon(t, "revoked API key", apiKey)
		t.Logf("replica %c refused the revoked token after %v and the revoked API key after %v", 'A'+i, d1, d2)
	}

	// The registry gone, a key no replica has cached cannot be verified:
	// Unavailable (503), within the peer timeout, never a hang.
	var k2 createdKey
	s.cliJSON(t, &k2, "apikeys", "create", "--client", m.reader.ClientID, "--scopes", "inventory:read")
	s.stop()
	for _, r := range replicas {
		start := time.Now()
		r.refusedAs(t, "API key with the registry down", "ApiKey "+k2.APIKey, 503, codes.Unavailable)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("the refusal took %v", d)
		}
	}
}

// refusedAs calls both faces once and wants the given refusal.
func (a *api) refusedAs(t *testing.T, what, authorization string, rest int, grpcCode codes.Code) {
	t.Helper()
	if rc, gc := a.call(t, authorization); rc != rest || gc != grpcCode {
		t.Fatalf("%s: REST %d, gRPC %v; want %d / %v", what, rc, gc, rest, grpcCode)
	}
}

// externalNATS is the machine's NATS (JetStream), which every process of a
// split deployment shares: required under CI, skipped without it locally.
func externalNATS(t *testing.T) string {
	t.Helper()
	natsURL := envOr("GATEHOUSE_TEST_NATS_URL", "nats://127.0.0.1:4222")
	requireService(t, "NATS", natsURL, "127.0.0.1:4222")
	return natsURL
}

// serverCertificate issues, from a CA of the test's own (an operator's
// PKI), a server certificate for 127.0.0.1, and returns the certificate,
// key and CA files.
func serverCertificate(t *testing.T) (certFile, keyFile, caFile string) {
	t.Helper()
	dir := t.TempDir()
	pki := newPartnerPKI(t, dir)
	cert := pki.issueTemplate(t, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	der := cert.Certificate[0]
	keyDER, _ := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	for f, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile, pki.caPEM
}

// TestEndToEndSplitRevocation: the revocation list as a service of its own.
// `serve revocation` keeps the list in its own store, takes an admin's
// revocation (the admin's API key verified at the registry over mTLS), and
// `serve inventory`, following that list over mTLS gRPC and NATS, refuses
// the revoked token.
func TestEndToEndSplitRevocation(t *testing.T) {
	natsURL := externalNATS(t)
	g := start(t, filepath.Join(t.TempDir(), "data"), "--example-inventory", "--nats-url", natsURL)
	registry := g.mtlsAddr(t)
	issuer := "http://" + g.creds.HTTPAddr
	revCert, revKey, platformCA := serviceIdentity(t, g, "revocation service", "gatehouse:internal")
	invCert, invKey, _ := serviceIdentity(t, g, "inventory service", "gatehouse:internal")
	srvCert, srvKey, serverCA := serverCertificate(t)
	// The inventory checks its peers' certificates: the registry's is the
	// platform CA's, the revocation service's the operator's.
	bundle := filepath.Join(t.TempDir(), "peers-ca.pem")
	a, _ := os.ReadFile(platformCA)
	b, _ := os.ReadFile(serverCA)
	if err := os.WriteFile(bundle, append(a, b...), 0o600); err != nil {
		t.Fatal(err)
	}

	r := startService(t, "revocation", "--nats-url", natsURL, "--issuer", issuer, "--peer-clients", registry,
		"--peer-cert", revCert, "--peer-key", revKey, "--peer-ca", platformCA, "--tls-cert", srvCert, "--tls-key", srvKey)
	inv := startService(t, "inventory", "--nats-url", natsURL, "--issuer", issuer,
		"--peer-clients", registry, "--peer-revocation", r.mtlsAddr(t),
		"--peer-cert", invCert, "--peer-key", invKey, "--peer-ca", bundle)
	api := newAPI(t, inv)

	m := setupM2M(t, g)
	tok := m.token(t, m.reader)
	api.accepted(t, "token before its revocation", "Bearer "+tok)

	// An admin revokes it at the revocation service, with the admin key
	// the registry bootstrapped.
	jti, _ := jwtClaims(t, tok)["jti"].(string)
	res := r.rest(t, "POST", "/v1/revocations", apiKeyHeaderFor(g.creds.APIKey),
		`{"kind":"KIND_ACCESS_TOKEN","id":"`+jti+`","reason":"split test"}`)
	if res.code != 200 {
		t.Fatalf("revoke at the revocation service: %d %s", res.code, res.rawBody)
	}
	d := api.refusedSoon(t, "token revoked at the revocation service", "Bearer "+tok)
	t.Logf("the inventory refused the token %v after the revocation service recorded it", d)

	// Without a credential the revocation service refuses, as every
	// service does.
	if res := r.rest(t, "POST", "/v1/revocations", nil, `{"kind":"KIND_ACCESS_TOKEN","id":"x"}`); res.code != 401 {
		t.Fatalf("revoke without a credential: %d", res.code)
	}
}
