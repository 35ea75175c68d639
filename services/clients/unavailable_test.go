package clients_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/clients/sqlstore"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// failingStore fails the reads the verifications make with err, once set.
type failingStore struct {
	clients.Store
	err atomic.Pointer[error]
}

func (s *failingStore) fail() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *failingStore) GetClient(ctx context.Context, id string) (clients.Client, error) {
	if err := s.fail(); err != nil {
		return clients.Client{}, err
	}
	return s.Store.GetClient(ctx, id)
}

func (s *failingStore) ListSecrets(ctx context.Context, id string) ([]clients.Secret, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.ListSecrets(ctx, id)
}

// A store that cannot be reached (a database restarting) is Unavailable
// at the API, so that callers retry and the token endpoint answers 503;
// any other store failure stays Internal.
func TestStoreUnavailableIsUnavailable(t *testing.T) {
	inner, err := sqlstore.New(t.Context(), dbtest.SQLiteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	store := &failingStore{Store: inner}
	r := clients.New(store)
	ctx := context.Background()
	created, err := r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
		Name: "Partner", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY, GrantTypes: []string{"client_credentials"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	id, secret := created.GetClient().GetClientId(), created.GetClientSecret()

	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"connection dropped", fmt.Errorf("clients: get client: %w", io.ErrUnexpectedEOF), codes.Unavailable},
		{"connection refused", fmt.Errorf("clients: get client: %w", &pgconn.ConnectError{}), codes.Unavailable},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, codes.Unavailable},
		{"a bug", errors.New("clients: scan: unexpected column"), codes.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store.err.Store(&tc.err)
			defer store.err.Store(nil)
			_, err := r.VerifyClientSecret(ctx, &clientsv1.VerifyClientSecretRequest{ClientId: id, ClientSecret: secret})
			if status.Code(err) != tc.want {
				t.Errorf("VerifyClientSecret: %v, want %v", err, tc.want)
			}
			_, err = r.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: id})
			if status.Code(err) != tc.want {
				t.Errorf("GetClient: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := r.VerifyClientSecret(ctx, &clientsv1.VerifyClientSecretRequest{ClientId: id, ClientSecret: secret}); err != nil {
		t.Fatalf("after the store is back: %v", err)
	}
}
