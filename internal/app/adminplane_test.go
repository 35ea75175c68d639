package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	tokenv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Which methods the public listeners stop serving with --admin-addr: those
// every alternative of whose rule takes an admin scope. A method an
// internal service or a validator may also call stays public.
func TestAdminOnlyMethods(t *testing.T) {
	rules, err := authn.RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	g := newAdminGuard(true, rules)
	for _, tc := range []struct {
		method string
		only   bool
	}{
		{clientsv1.ClientRegistryService_CreateClient_FullMethodName, true},
		{clientsv1.ClientRegistryService_ListClients_FullMethodName, true},
		{clientsv1.ClientRegistryService_CreateAPIKey_FullMethodName, true},
		{revocationv1.RevocationService_Revoke_FullMethodName, false}, // gatehouse:internal.revoke
		{revocationv1.RevocationService_List_FullMethodName, false},   // validators resync with it
		{revocationv1.RevocationService_Watch_FullMethodName, false},
		{tokenv1.TokenService_Introspect_FullMethodName, false},
		{tokenv1.TokenService_GetServerMetadata_FullMethodName, false}, // public
		{inventoryv1.InventoryService_ListItems_FullMethodName, false},
		{"/no.such.Service/Method", false},
	} {
		if got := g.isAdminOnly(tc.method); got != tc.only {
			t.Errorf("isAdminOnly(%s) = %v, want %v", tc.method, got, tc.only)
		}
	}
	if newAdminGuard(false, rules) != nil {
		t.Error("a guard without --admin-addr")
	}
}

// With --admin-addr the admin API is served on its own TLS listener only:
// the public gRPC and REST listeners refuse admin methods (PermissionDenied,
// 404) and admin credentials (for any method), while the admin listener,
// verified with the CA the server wrote for the CLI, serves them.
func TestAdminListener(t *testing.T) {
	a, key := startApp(t, "--admin-addr", "127.0.0.1:0", "--example-inventory")
	if a.AdminAddr() == "" {
		t.Fatal("no admin listener")
	}
	var creds Credentials
	b, err := os.ReadFile(filepath.Join(a.cfg.DataDir, CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &creds); err != nil {
		t.Fatal(err)
	}
	if creds.AdminAddr != a.AdminAddr() || creds.AdminCAFile != AdminCAFile {
		t.Fatalf("credentials file: admin_addr %q admin_ca_file %q, want %q %q", creds.AdminAddr, creds.AdminCAFile, a.AdminAddr(), AdminCAFile)
	}
	caPEM, err := os.ReadFile(filepath.Join(a.cfg.DataDir, creds.AdminCAFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in the admin CA file")
	}
	tlsConf := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}

	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "ApiKey "+key)
	dial := func(addr string, tc credentials.TransportCredentials) *grpc.ClientConn {
		t.Helper()
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(tc))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	public := dial(a.GRPCAddr(), insecure.NewCredentials())
	admin := dial(a.AdminAddr(), credentials.NewTLS(tlsConf))

	// The admin listener serves the admin API.
	reg := clientsv1.NewClientRegistryServiceClient(admin)
	c, err := reg.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
		Name: "worker", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"}, Scopes: []string{"inventory:read"}}})
	if err != nil {
		t.Fatalf("CreateClient on the admin listener: %v", err)
	}
	k, err := reg.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: c.GetClient().GetClientId(), Scopes: []string{"inventory:read"}})
	if err != nil {
		t.Fatal(err)
	}
	worker := metadata.AppendToOutgoingContext(context.Background(), "authorization", "ApiKey "+k.GetApiKey())
	// A support engineer's key: it may read the admin API and the
	// inventory.
	sc, err := reg.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
		Name: "support", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"}, Scopes: []string{"inventory:read", "gatehouse:admin.read"}}})
	if err != nil {
		t.Fatal(err)
	}
	sk, err := reg.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: sc.GetClient().GetClientId(), Scopes: []string{"inventory:read", "gatehouse:admin.read"}})
	if err != nil {
		t.Fatal(err)
	}
	support := metadata.AppendToOutgoingContext(context.Background(), "authorization", "ApiKey "+sk.GetApiKey())

	// The public gRPC listener: admin methods refused, whoever calls.
	for name, callCtx := range map[string]context.Context{"admin key": ctx, "worker key": worker, "no credential": context.Background()} {
		_, err := clientsv1.NewClientRegistryServiceClient(public).ListClients(callCtx, &clientsv1.ListClientsRequest{})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("ListClients on the public listener with %s: %v, want PermissionDenied", name, err)
		}
	}
	// An admin credential is refused for a public method too, though its
	// scopes allow it; on the admin listener it is served. The worker's
	// key works on the public listener.
	inv := inventoryv1.NewInventoryServiceClient(public)
	if _, err := inv.ListItems(support, &inventoryv1.ListItemsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("an admin credential on the public listener: %v, want PermissionDenied", err)
	}
	if _, err := inventoryv1.NewInventoryServiceClient(admin).ListItems(support, &inventoryv1.ListItemsRequest{}); err != nil {
		t.Errorf("the same call on the admin listener: %v", err)
	}
	if _, err := inv.ListItems(worker, &inventoryv1.ListItemsRequest{}); err != nil {
		t.Errorf("a resource call on the public listener: %v", err)
	}
	// REST: 404 on the public HTTP listener, 200 on the admin one.
	get := func(client *http.Client, url, apiKey string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "ApiKey "+apiKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(http.DefaultClient, "http://"+a.HTTPAddr()+"/v1/clients", key); code != http.StatusNotFound {
		t.Errorf("GET /v1/clients on the public listener: %d, want 404", code)
	}
	if code := get(http.DefaultClient, "http://"+a.HTTPAddr()+"/v1/inventory/items", sk.GetApiKey()); code != http.StatusForbidden {
		t.Errorf("the admin key on the public REST facade: %d, want 403", code)
	}
	if code := get(http.DefaultClient, "http://"+a.HTTPAddr()+"/v1/inventory/items", k.GetApiKey()); code != http.StatusOK {
		t.Errorf("a resource call on the public REST facade: %d, want 200", code)
	}
	httpsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
	t.Cleanup(httpsClient.CloseIdleConnections)
	if code := get(httpsClient, "https://"+a.AdminAddr()+"/v1/clients", key); code != http.StatusOK {
		t.Errorf("GET /v1/clients on the admin listener: %d, want 200", code)
	}
	if code := get(httpsClient, "https://"+a.AdminAddr()+"/v1/clients", k.GetApiKey()); code != http.StatusForbidden {
		t.Errorf("a non-admin key on the admin listener: %d, want 403", code)
	}
	// An admin certificate from the platform CA (issued to the admin
	// client) is an admin credential on its own, on the admin listener
	// only.
	csr, priv := testCSRKey(t)
	issued, err := keysv1.NewKeyManagementServiceClient(admin).IssueClientCertificate(ctx, &keysv1.IssueClientCertificateRequest{ClientId: clients.AdminClientID, CsrPem: csr})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(issued.GetCertificatePem())
	certConf := tlsConf.Clone()
	certConf.Certificates = []tls.Certificate{{Certificate: [][]byte{block.Bytes}, PrivateKey: priv}}
	withCert := clientsv1.NewClientRegistryServiceClient(dial(a.AdminAddr(), credentials.NewTLS(certConf)))
	if _, err := withCert.ListClients(context.Background(), &clientsv1.ListClientsRequest{}); err != nil {
		t.Errorf("the admin certificate alone on the admin listener: %v", err)
	}
	partner := clientsv1.NewClientRegistryServiceClient(dial(a.MTLSAddr(), credentials.NewTLS(certConf)))
	if _, err := partner.ListClients(context.Background(), &clientsv1.ListClientsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("the admin certificate on the public mTLS listener: %v, want PermissionDenied", err)
	}
	if _, err := inventoryv1.NewInventoryServiceClient(dial(a.MTLSAddr(), credentials.NewTLS(certConf))).ListItems(context.Background(), &inventoryv1.ListItemsRequest{}); status.Code(err) == codes.OK {
		t.Error("the admin certificate was accepted on the public mTLS listener")
	}

	// The admin listener is TLS only.
	if _, err := clientsv1.NewClientRegistryServiceClient(dial(a.AdminAddr(), insecure.NewCredentials())).ListClients(ctx, &clientsv1.ListClientsRequest{}); err == nil {
		t.Error("plaintext gRPC on the admin listener worked")
	}
}
