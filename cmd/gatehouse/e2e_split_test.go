package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"github.com/gatehouse-dev/gatehouse/internal/topology"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// natsServerBinary is a nats-server to run cluster nodes with: the one on
// PATH (or Debian's), else one built from the nats-server module this
// repository pins.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	natsBuild.once.Do(func() {
		for _, p := range []string{"nats-server", "/usr/sbin/nats-server"} {
			if path, err := exec.LookPath(p); err == nil {
				natsBuild.path = path
				return
			}
		}
		out := filepath.Join(filepath.Dir(binary), "nats-server")
		cmd := exec.Command("go", "build", "-o", out, "github.com/nats-io/nats-server/v2")
		if b, err := cmd.CombinedOutput(); err != nil {
			natsBuild.err = string(b)
			return
		}
		natsBuild.path = out
	})
	if natsBuild.path == "" {
		t.Fatalf("no nats-server, and building one failed: %s", natsBuild.err)
	}
	return natsBuild.path
}

var natsBuild struct {
	once      sync.Once
	path, err string
}

// startTopology runs the deploy/local topology (internal/topology) on a
// fresh PostgreSQL schema (skipped locally without PostgreSQL, required
// under CI) and a three-node NATS cluster of its own. At the end every
// process is stopped and its log scanned by the leak watch.
func startTopology(t *testing.T, dbURL string, replicas map[string]int, args ...string) *topology.Topology {
	t.Helper()
	return startTopologyWith(t, topology.Options{DatabaseURL: dbURL, Replicas: replicas, Args: args})
}

// startTopologyWith is startTopology with the rest of the options: the
// binaries and the directory are the test's.
func startTopologyWith(t *testing.T, opts topology.Options) *topology.Topology {
	t.Helper()
	if opts.DatabaseURL == "" {
		opts.DatabaseURL = dbtest.PostgresURL(t)
	}
	opts.Binary, opts.NATSServer, opts.Dir = binary, natsServerBinary(t), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topo, err := topology.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	leaks.add("admin API key", topo.AdminKey)
	t.Cleanup(func() {
		topo.Stop()
		for _, p := range topo.All() {
			for _, f := range leaks.scan("the logs of "+p.Name, p.Logs()) {
				t.Error(f)
			}
		}
		for _, p := range leaks.takeProblems() {
			t.Error(p)
		}
		if t.Failed() {
			for _, p := range topo.All() {
				t.Logf("--- %s log (tail):\n%s", p.Name, tailString(p.Logs(), 3000))
			}
		}
	})
	return topo
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// at is a view of one process of a topology with the helpers of a
// server: REST calls, and the admin CLI with the bootstrap admin key
// against that process's gRPC listener.
func at(t *testing.T, topo *topology.Topology, p *topology.Process) *server {
	t.Helper()
	dir := t.TempDir()
	c := credentials{APIKey: topo.AdminKey, GRPCAddr: p.GRPC, HTTPAddr: p.HTTP}
	b, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(dir, "admin-credentials.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &server{t: t, dataDir: dir, creds: c, logs: &logtest.Buffer{}}
}

// platformCertificate registers a client with scopes at the registry and
// has the key service's platform CA issue it a certificate; it returns the
// certificate, its key and the CA file.
func platformCertificate(t *testing.T, registry, ca *server, name, scopes string) (certFile, keyFile, caFile string) {
	t.Helper()
	var reg createdClient
	registry.cliJSON(t, &reg, "clients", "create", "--name", name, "--type", "first_party",
		"--grant-types", "client_credentials", "--scopes", scopes)
	certFile, keyFile = issueCertificate(t, ca, reg.ClientID, name)
	caFile = filepath.Join(filepath.Dir(certFile), "ca.pem")
	if _, err := ca.cli(t, "certs", "ca", "--out", caFile); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, caFile
}

// issueCertificate has ca's platform CA issue clientID a certificate for a
// new P-256 key (gatehouse certs issue); it returns the certificate and
// key files, PEM.
func issueCertificate(t *testing.T, ca *server, clientID, commonName string) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: commonName}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csrFile := filepath.Join(dir, "client.csr")
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for f, b := range map[string][]byte{
		csrFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}),
		keyFile: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := ca.cli(t, "certs", "issue", "--client", clientID, "--csr", csrFile, "--out", certFile); err != nil {
		t.Fatalf("certs issue: %v\n%s", err, out)
	}
	return certFile, keyFile
}

// mtlsConn dials a process's mTLS listener with a client certificate,
// checking the server's certificate against the platform CA.
func mtlsConn(t *testing.T, topo *topology.Topology, addr string, cert tls.Certificate) *grpc.ClientConn {
	t.Helper()
	pool := x509.NewCertPool()
	b, err := os.ReadFile(filepath.Join(topo.CertDir, "ca.crt"))
	if err != nil || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("platform CA: %v", err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(grpccreds.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// identityCert loads the identity certificate of a topology's service.
func identityCert(t *testing.T, topo *topology.Topology, service string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(topo.CertDir, service+".crt"), filepath.Join(topo.CertDir, service+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEndToEndSplitTopology: every service as a process of its own (the
// deploy/local topology, two inventory replicas), each with its identity
// certificate from `gatehouse service-cert`, on PostgreSQL and a
// three-node NATS cluster. An admin works through the services' own
// listeners and the gateway; a partner gets a token from the token
// service and calls the inventory replicas over REST and gRPC and through
// the gateway, with a token, an API key and its certificate alone; a
// revocation reaches every replica; the services' identities reach only
// what their role needs; a peer gone is Unavailable, not a hang.
func TestEndToEndSplitTopology(t *testing.T) {
	topo := startTopology(t, "", map[string]int{"token": 1, "gateway": 1, "inventory": 2}, "--peer-timeout", "2s")
	registry := at(t, topo, topo.Services["clients"][0])
	keysSrv := at(t, topo, topo.Services["keys"][0])
	tokenSrv := at(t, topo, topo.Services["token"][0])
	gateway := at(t, topo, topo.Services["gateway"][0])
	revSrv := at(t, topo, topo.Services["revocation"][0])

	m := setupM2M(t, registry)
	m.s = tokenSrv // tokens from the token service
	tok := m.token(t, m.reader)
	var k createdKey
	registry.cliJSON(t, &k, "apikeys", "create", "--client", m.reader.ClientID, "--scopes", "inventory:read")
	var replicas []*api
	for _, p := range topo.Services["inventory"] {
		replicas = append(replicas, newAPI(t, at(t, topo, p)))
	}
	for i, r := range replicas {
		r.accepted(t, "token at inventory "+string(rune('A'+i)), "Bearer "+tok)
		r.accepted(t, "API key at inventory "+string(rune('A'+i)), "ApiKey "+k.APIKey)
		r.refusedAs(t, "no credential", "", 401, codes.Unauthenticated)
	}
	for _, auth := range []string{"Bearer " + tok, "ApiKey " + k.APIKey} {
		if res := gateway.rest(t, "GET", "/v1/inventory/items", map[string]string{"Authorization": auth}, ""); res.code != 200 {
			t.Fatalf("through the gateway: %d %s", res.code, res.rawBody)
		}
	}
	// The admin APIs of every service, through the one gateway.
	for _, path := range []string{"/v1/clients", "/v1/keys", "/v1/users", "/v1/scopes"} {
		if res := gateway.rest(t, "GET", path, apiKeyHeaderFor(topo.AdminKey), ""); res.code != 200 {
			t.Fatalf("GET %s through the gateway: %d %s", path, res.code, res.rawBody)
		}
	}
	// The token service publishes the key service's JWKS at its issuer.
	if res := tokenSrv.rest(t, "GET", "/.well-known/jwks.json", nil, ""); res.code != 200 || !strings.Contains(res.rawBody, `"keys"`) {
		t.Fatalf("JWKS at the token service: %d %s", res.code, res.rawBody)
	}

	// A partner's platform-CA certificate alone: at a replica over mTLS
	// gRPC, and through the gateway's mTLS listener (the gateway states the
	// certificate; the replica trusts it from the gateway's identity).
	pc, pk, _ := platformCertificate(t, registry, keysSrv, "partner with a certificate", "inventory:read")
	partner, err := tls.LoadX509KeyPair(pc, pk)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range topo.Services["inventory"] {
		conn := mtlsConn(t, topo, p.MTLS, partner)
		if _, err := inventoryv1.NewInventoryServiceClient(conn).ListItems(context.Background(), &inventoryv1.ListItemsRequest{}); err != nil {
			t.Fatalf("certificate alone at %s: %v", p.Name, err)
		}
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(filepath.Join(topo.CertDir, "ca.crt"))
	pool.AppendCertsFromPEM(caPEM)
	httpsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{partner}, RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := httpsClient.Get("https://" + topo.Services["gateway"][0].MTLS + "/v1/inventory/items") //nolint:noctx // test
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("certificate alone through the gateway: %d", resp.StatusCode)
	}
	// A caller cannot state a certificate, nor that its request was
	// forwarded: the gateway drops those headers and states its own.
	forged := map[string]string{
		"Grpc-Metadata-X-Gatehouse-Forwarded":        "1",
		"Grpc-Metadata-X-Gatehouse-Client-Cert-S256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"Grpc-Metadata-X-Gatehouse-Client-Cert":      "AAAA",
	}
	if res := gateway.rest(t, "GET", "/v1/inventory/items", forged, ""); res.code != 401 {
		t.Fatalf("forged forwarding headers without a credential: %d, want 401", res.code)
	}

	// Each service's identity reaches what its role needs, and no more.
	ctx := context.Background()
	keysAddr := topo.Services["keys"][0].MTLS
	if _, err := keysv1.NewKeyManagementServiceClient(mtlsConn(t, topo, keysAddr, identityCert(t, topo, "token"))).GetSigningKey(ctx, &keysv1.GetSigningKeyRequest{}); err != nil {
		t.Fatalf("the token service's identity reading the signing key: %v", err)
	}
	for _, who := range []string{"inventory", "gateway", "clients"} {
		_, err := keysv1.NewKeyManagementServiceClient(mtlsConn(t, topo, keysAddr, identityCert(t, topo, who))).GetSigningKey(ctx, &keysv1.GetSigningKeyRequest{})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("%s's identity reading the signing key: %v, want PermissionDenied", who, err)
		}
	}
	regAddr := topo.Services["clients"][0].MTLS
	_, err = clientsv1.NewClientRegistryServiceClient(mtlsConn(t, topo, regAddr, identityCert(t, topo, "inventory"))).
		VerifyClientSecret(ctx, &clientsv1.VerifyClientSecretRequest{ClientId: m.reader.ClientID, ClientSecret: "guess"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("inventory's identity checking a client secret: %v, want PermissionDenied", err)
	}
	_, err = revocationv1.NewRevocationServiceClient(mtlsConn(t, topo, topo.Services["revocation"][0].MTLS, partner)).
		List(ctx, &revocationv1.ListRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a partner's certificate reading the revocation list: %v, want PermissionDenied", err)
	}

	// Revocations reach every replica and the gateway.
	if code := revokeRFC7009(t, tokenSrv, m.reader, "token="+tok); code != 200 {
		t.Fatalf("RFC 7009 revoke at the token service: %d", code)
	}
	if _, err := registry.cli(t, "apikeys", "revoke", "--client", m.reader.ClientID, "--key", k.KeyID); err != nil {
		t.Fatal(err)
	}
	for i, r := range replicas {
		d1 := r.refusedSoon(t, "revoked token", "Bearer "+tok)
		d2 := r.refusedSoon(t, "revoked API key", "ApiKey "+k.APIKey)
		t.Logf("inventory %c refused the revoked token after %v and the revoked API key after %v", 'A'+i, d1, d2)
	}
	if res := gateway.rest(t, "GET", "/v1/inventory/items", bearer(tok), ""); res.code != 401 {
		t.Fatalf("revoked token through the gateway: %d", res.code)
	}
	// An admin revokes at the revocation service itself (the admin key
	// verified at the registry).
	tok2 := m.token(t, m.reader)
	jti, _ := jwtClaims(t, tok2)["jti"].(string)
	if res := revSrv.rest(t, "POST", "/v1/revocations", apiKeyHeaderFor(topo.AdminKey),
		`{"kind":"KIND_ACCESS_TOKEN","id":"`+jti+`","reason":"split test"}`); res.code != 200 {
		t.Fatalf("revoke at the revocation service: %d %s", res.code, res.rawBody)
	}
	d := replicas[0].refusedSoon(t, "token revoked at the revocation service", "Bearer "+tok2)
	t.Logf("inventory A refused the token %v after the revocation service recorded it", d)

	// A service's identity is revoked like any certificate, by serial: the
	// registry then refuses it at the handshake, and the inventory
	// replicas cannot verify a key they have not cached (503), though the
	// tokens they check themselves still pass.
	invIdentity := identityCert(t, topo, "inventory")
	verify := func() error {
		_, err := clientsv1.NewClientRegistryServiceClient(mtlsConn(t, topo, regAddr, invIdentity)).
			VerifyAPIKey(ctx, &clientsv1.VerifyAPIKeyRequest{ApiKey: "gth_notakey"})
		return err
	}
	if err := verify(); err != nil {
		t.Fatalf("VerifyAPIKey with the inventory's identity: %v", err)
	}
	var kNew createdKey
	registry.cliJSON(t, &kNew, "apikeys", "create", "--client", m.reader.ClientID, "--scopes", "inventory:read")
	if _, err := revSrv.cli(t, "revoke", "certificate", authn.CertSerial(invIdentity.Leaf), "--reason", "service key compromised"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for verify() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the registry still takes the inventory's revoked identity")
		}
		time.Sleep(50 * time.Millisecond)
	}
	replicas[0].refusedAs(t, "an API key the inventory must verify with its identity revoked", "ApiKey "+kNew.APIKey, 503, codes.Unavailable)
	replicas[0].accepted(t, "a token, checked by the inventory itself", "Bearer "+m.token(t, m.reader))

	// The registry gone, a key no replica has cached cannot be verified:
	// Unavailable (503), within the peer timeout, never a hang.
	var k2 createdKey
	registry.cliJSON(t, &k2, "apikeys", "create", "--client", m.reader.ClientID, "--scopes", "inventory:read")
	topo.Services["clients"][0].Stop()
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
