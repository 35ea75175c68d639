package clients_test

import (
	"context"
	"encoding/base64"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/clients/sqlstore"
)

// TestUnstorableText: ids and text that PostgreSQL's text type cannot hold
// (NUL, invalid UTF-8) name nothing and are refused as fields, with the
// same answer over both stores, never Internal. Found by
// FuzzTokenEndpointPostgres (a client_id of "\x94" at the token endpoint
// was a 500) and FuzzClientsGatewayJSONPostgres (a path id of "\x00").
func TestUnstorableText(t *testing.T) {
	for _, be := range dbtest.Backends {
		t.Run(be.Name, func(t *testing.T) {
			store, err := sqlstore.New(t.Context(), be.Open(t))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			reg := clients.New(store)
			if _, err := reg.CreateScope(ctx, &clientsv1.CreateScopeRequest{Scope: &clientsv1.Scope{Name: "orders:read"}}); err != nil {
				t.Fatal(err)
			}
			created, err := reg.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
				Name: "Base", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders:read"},
			}})
			if err != nil {
				t.Fatal(err)
			}
			base := created.GetClient().GetClientId()
			check := func(what string, err error, want codes.Code) {
				t.Helper()
				if got := status.Code(err); got != want {
					t.Errorf("%s: %v, want %s", what, err, want)
				}
			}
			for _, id := range []string{"\x94", "c\x00x", "\x00"} {
				_, err := reg.VerifyClientSecret(ctx, &clientsv1.VerifyClientSecretRequest{ClientId: id, ClientSecret: "s"})
				check("VerifyClientSecret "+id, err, codes.Unauthenticated)
				_, err = reg.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: id})
				check("GetClient "+id, err, codes.NotFound)
				_, err = reg.UpdateClient(ctx, &clientsv1.UpdateClientRequest{Client: &clientsv1.Client{ClientId: id, Name: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
				check("UpdateClient "+id, err, codes.NotFound)
				_, err = reg.DeleteClient(ctx, &clientsv1.DeleteClientRequest{ClientId: id})
				check("DeleteClient "+id, err, codes.NotFound)
				_, err = reg.RotateClientSecret(ctx, &clientsv1.RotateClientSecretRequest{ClientId: id})
				check("RotateClientSecret "+id, err, codes.NotFound)
				_, err = reg.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: id})
				check("CreateAPIKey "+id, err, codes.NotFound)
				_, err = reg.ListAPIKeys(ctx, &clientsv1.ListAPIKeysRequest{ClientId: id})
				check("ListAPIKeys "+id, err, codes.NotFound)
				_, err = reg.RotateAPIKey(ctx, &clientsv1.RotateAPIKeyRequest{ClientId: base, KeyId: id})
				check("RotateAPIKey "+id, err, codes.NotFound)
				_, err = reg.RevokeAPIKey(ctx, &clientsv1.RevokeAPIKeyRequest{ClientId: base, KeyId: id})
				check("RevokeAPIKey "+id, err, codes.NotFound)
				_, err = reg.DeleteScope(ctx, &clientsv1.DeleteScopeRequest{Name: id})
				check("DeleteScope "+id, err, codes.NotFound)
				token := base64.RawURLEncoding.EncodeToString([]byte("1700000000000000|" + id))
				_, err = reg.ListClients(ctx, &clientsv1.ListClientsRequest{PageToken: token})
				check("ListClients after "+id, err, codes.InvalidArgument)
			}
			good := func() *clientsv1.Client {
				return &clientsv1.Client{Name: "c", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"}}
			}
			nulName := good()
			nulName.Name = "a\x00b"
			_, err = reg.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: nulName})
			check("CreateClient with a NUL name", err, codes.InvalidArgument)
			nulDN := good()
			nulDN.TokenEndpointAuthMethod = "tls_client_auth"
			nulDN.TlsClientAuth = &clientsv1.TLSClientAuth{SubjectDn: "CN=\x00"}
			_, err = reg.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: nulDN})
			check("CreateClient with a NUL subject DN", err, codes.InvalidArgument)
			_, err = reg.UpdateClient(ctx, &clientsv1.UpdateClientRequest{Client: &clientsv1.Client{ClientId: base, Name: "\x00"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
			check("UpdateClient to a NUL name", err, codes.InvalidArgument)
			_, err = reg.CreateScope(ctx, &clientsv1.CreateScopeRequest{Scope: &clientsv1.Scope{Name: "nul:x", Description: "\x00"}})
			check("CreateScope with a NUL description", err, codes.InvalidArgument)
			_, err = reg.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: base, Description: "a\x00"})
			check("CreateAPIKey with a NUL description", err, codes.InvalidArgument)
		})
	}
}
