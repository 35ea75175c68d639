package clients_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/clients/sqlstore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// recordingRevoker records revocations, or fails while down is set.
type recordingRevoker struct {
	mu   sync.Mutex
	down bool
	got  []*revocationv1.RevokeRequest
}

func (r *recordingRevoker) Revoke(_ context.Context, req *revocationv1.RevokeRequest) (*revocationv1.RevokeResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return nil, errors.New("revocation service down")
	}
	r.got = append(r.got, req)
	return &revocationv1.RevokeResponse{Entry: &revocationv1.Entry{Kind: req.GetKind(), Id: req.GetId()}}, nil
}

func (r *recordingRevoker) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

func (r *recordingRevoker) take() []*revocationv1.RevokeRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// TestRegistryRecordsRevocations: revoking an API key, disabling or
// deleting a client goes through the revocation list, and a failure there
// fails the call without half-applying it.
func TestRegistryRecordsRevocations(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.New(ctx, dbtest.SQLiteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rv := &recordingRevoker{}
	r := clients.New(store, clients.WithClock(func() time.Time { return now }), clients.WithRevoker(rv))
	if err := r.SeedScopes(ctx, []string{"orders:read"}); err != nil {
		t.Fatal(err)
	}
	created, err := r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
		Name: "Partner", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders:read"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetClient().GetClientId()
	key, err := r.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: id, Scopes: []string{"orders:read"}, Ttl: durationpb.New(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	keyID := key.GetKey().GetKeyId()

	// The list down: the key stays usable and the call says to retry.
	rv.setDown(true)
	_, err = r.RevokeAPIKey(ctx, &clientsv1.RevokeAPIKeyRequest{ClientId: id, KeyId: keyID})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("revoke with the list down: %v, want Unavailable", err)
	}
	if v, err := r.VerifyAPIKey(ctx, &clientsv1.VerifyAPIKeyRequest{ApiKey: key.GetApiKey()}); err != nil || v.GetFailure() != clientsv1.APIKeyFailure_API_KEY_FAILURE_UNSPECIFIED {
		t.Fatalf("key after a failed revoke: %v %v", v.GetFailure(), err)
	}
	rv.setDown(false)

	if _, err := r.RevokeAPIKey(ctx, &clientsv1.RevokeAPIKeyRequest{ClientId: id, KeyId: keyID}); err != nil {
		t.Fatal(err)
	}
	got := rv.take()
	if len(got) != 1 || got[0].GetKind() != revocationv1.Kind_KIND_API_KEY || got[0].GetId() != keyID ||
		!got[0].GetExpireTime().AsTime().Equal(now.Add(24*time.Hour)) {
		t.Fatalf("api key revocation recorded as %v", got)
	}

	disable := &clientsv1.UpdateClientRequest{
		Client:     &clientsv1.Client{ClientId: id, Disabled: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"disabled"}},
	}
	for range 2 { // the second, already disabled, records again: a retry path
		if _, err := r.UpdateClient(ctx, disable); err != nil {
			t.Fatal(err)
		}
		got = rv.take()
		if len(got) != 1 || got[0].GetKind() != revocationv1.Kind_KIND_CLIENT || got[0].GetId() != id || got[0].GetExpireTime() != nil {
			t.Fatalf("disable recorded as %v", got)
		}
	}
	// Other updates record nothing.
	if _, err := r.UpdateClient(ctx, &clientsv1.UpdateClientRequest{
		Client:     &clientsv1.Client{ClientId: id, Name: "Renamed"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}},
	}); err != nil {
		t.Fatal(err)
	}
	if got = rv.take(); len(got) != 0 {
		t.Fatalf("rename recorded %v", got)
	}

	// Delete: refused while the list is down, and the client survives.
	rv.setDown(true)
	if _, err := r.DeleteClient(ctx, &clientsv1.DeleteClientRequest{ClientId: id}); status.Code(err) != codes.Unavailable {
		t.Fatalf("delete with the list down: %v", err)
	}
	if _, err := r.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: id}); err != nil {
		t.Fatalf("client gone after a failed delete: %v", err)
	}
	rv.setDown(false)
	if _, err := r.DeleteClient(ctx, &clientsv1.DeleteClientRequest{ClientId: id}); err != nil {
		t.Fatal(err)
	}
	if got = rv.take(); len(got) != 1 || got[0].GetKind() != revocationv1.Kind_KIND_CLIENT || got[0].GetId() != id {
		t.Fatalf("delete recorded as %v", got)
	}
	// Deleting an unknown client records nothing.
	if _, err := r.DeleteClient(ctx, &clientsv1.DeleteClientRequest{ClientId: "c_unknown"}); status.Code(err) != codes.NotFound {
		t.Fatalf("delete unknown: %v", err)
	}
	if got = rv.take(); len(got) != 0 {
		t.Fatalf("unknown delete recorded %v", got)
	}
}
