package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// serviceCert runs `gatehouse service-cert` on the server's store, as the
// operator does, and returns its exit code and stderr.
func (s *server) serviceCert(t *testing.T, out string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, append(append([]string{"service-cert"}, args...), "--data-dir", s.dataDir, "--out", out)...)
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// TestEndToEndValidatorIdentities: a resource service outside Gatehouse
// (orders) gets an identity for its validator in either of the two
// documented ways, a certificate from `gatehouse service-cert --name orders
// --role validator` or a `clients create --type service` client's token,
// and either reads the revocation list, verifies a partner's API key and
// reads the partner's tier and name, but does not check client secrets,
// read the signing key, revoke or administer.
func TestEndToEndValidatorIdentities(t *testing.T) {
	s := start(t, t.TempDir(), "--example-inventory")
	m := setupM2M(t, s)
	var partnerKey createdKey
	s.cliJSON(t, &partnerKey, "apikeys", "create", "--client", m.reader.ClientID, "--scopes", "inventory:read")

	// The operator's refusals: one line each, nothing written.
	certs := filepath.Join(t.TempDir(), "certs")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a Gatehouse service's name", []string{"--name", "token", "--role", "validator", "--host", "localhost"}, "is a Gatehouse service"},
		{"a resource service without the role", []string{"orders", "--host", "localhost"}, "--role validator"},
		{"an invalid name", []string{"--name", "Orders/1", "--role", "validator", "--host", "localhost"}, "invalid name"},
		{"an unknown role", []string{"--name", "orders", "--role", "admin", "--host", "localhost"}, "unknown role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := s.serviceCert(t, certs, tc.args...)
			if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and one line with %q", code, stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(certs); !os.IsNotExist(err) {
		t.Fatalf("a refused service-cert wrote %s: %v", certs, err)
	}
	if code, stderr := s.serviceCert(t, certs, "--name", "orders", "--role", "validator", "--host", "orders.internal"); code != 0 {
		t.Fatalf("service-cert --name orders --role validator: exit %d: %s", code, stderr)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(certs, "orders.crt"), filepath.Join(certs, "orders.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(certs, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	certConn, err := grpc.NewClient(s.mtlsAddr(t), grpc.WithTransportCredentials(grpccreds.NewTLS(
		&tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = certConn.Close() })

	var svc createdClient
	s.cliJSON(t, &svc, "clients", "create", "--name", "orders", "--type", "service")
	tok := m.token(t, svc)
	_, tokenConn := s.grpcClient(t)
	withToken := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)

	for _, id := range []struct {
		name string
		conn *grpc.ClientConn
		ctx  context.Context
		// Admin rules take the certificate alone (an admin's certificate),
		// so the validator's is authenticated, and refused for its scopes.
		adminCode codes.Code
	}{
		{"certificate", certConn, context.Background(), codes.PermissionDenied},
		{"client credentials token", tokenConn, withToken, codes.PermissionDenied},
	} {
		t.Run(id.name, func(t *testing.T) {
			ctx := id.ctx
			rev := revocationv1.NewRevocationServiceClient(id.conn)
			reg := clientsv1.NewClientRegistryServiceClient(id.conn)
			keys := keysv1.NewKeyManagementServiceClient(id.conn)
			if _, err := rev.Head(ctx, &revocationv1.HeadRequest{}); err != nil {
				t.Fatalf("Head: %v", err)
			}
			if _, err := rev.List(ctx, &revocationv1.ListRequest{}); err != nil {
				t.Fatalf("List: %v", err)
			}
			if _, err := rev.Check(ctx, &revocationv1.CheckRequest{Kind: revocationv1.Kind_KIND_API_KEY, Id: partnerKey.KeyID}); err != nil {
				t.Fatalf("Check: %v", err)
			}
			v, err := reg.VerifyAPIKey(ctx, &clientsv1.VerifyAPIKeyRequest{ApiKey: partnerKey.APIKey})
			if err != nil || v.GetClientId() != m.reader.ClientID || v.GetFailure() != clientsv1.APIKeyFailure_API_KEY_FAILURE_UNSPECIFIED {
				t.Fatalf("VerifyAPIKey: %v %v", v, err)
			}
			got, err := reg.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: m.reader.ClientID})
			if err != nil {
				t.Fatalf("GetClient: %v", err)
			}
			if c := got.GetClient(); c.GetName() != "Reporting" || c.GetRateLimitTier() != clientsv1.RateLimitTier_RATE_LIMIT_TIER_STANDARD ||
				c.GetDisabled() || len(c.GetGrantTypes()) != 0 || c.GetCreateTime() != nil {
				t.Fatalf("GetClient: %v, want the validator's view (name, tier, no grants or times)", c)
			}
			for _, refused := range []struct {
				rpc  string
				call func() error
				want codes.Code
			}{
				{"VerifyClientSecret", func() error {
					_, err := reg.VerifyClientSecret(ctx, &clientsv1.VerifyClientSecretRequest{ClientId: m.reader.ClientID, ClientSecret: m.reader.ClientSecret})
					return err
				}, codes.PermissionDenied},
				{"GetSigningKey", func() error { _, err := keys.GetSigningKey(ctx, &keysv1.GetSigningKeyRequest{}); return err }, codes.PermissionDenied},
				{"Revoke", func() error {
					_, err := rev.Revoke(ctx, &revocationv1.RevokeRequest{Kind: revocationv1.Kind_KIND_API_KEY, Id: partnerKey.KeyID, Reason: "validator"})
					return err
				}, codes.PermissionDenied},
				{"ListClients", func() error { _, err := reg.ListClients(ctx, &clientsv1.ListClientsRequest{}); return err }, id.adminCode},
				{"CreateAPIKey", func() error {
					_, err := reg.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: m.reader.ClientID, Scopes: []string{"inventory:read"}})
					return err
				}, id.adminCode},
			} {
				if err := refused.call(); status.Code(err) != refused.want {
					t.Errorf("%s: %v, want %v", refused.rpc, err, refused.want)
				}
			}
		})
	}
	// The refused Revoke revoked nothing: the partner's key still verifies.
	if v, err := clientsv1.NewClientRegistryServiceClient(tokenConn).VerifyAPIKey(withToken, &clientsv1.VerifyAPIKeyRequest{ApiKey: partnerKey.APIKey}); err != nil || v.GetClientId() != m.reader.ClientID {
		t.Fatalf("VerifyAPIKey after the refused revocations: %v %v", v, err)
	}
}
