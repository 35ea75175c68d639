package scalerun

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	clientsql "github.com/gatehouse-dev/gatehouse/services/clients/sqlstore"
	revsql "github.com/gatehouse-dev/gatehouse/services/revocation/sqlstore"
	usersql "github.com/gatehouse-dev/gatehouse/services/users/sqlstore"
)

// stores are the real stores on a fresh schema, migrated by themselves.
type stores struct {
	pool     *pgxpool.Pool
	clients  *clientsql.Store
	users    *usersql.Store
	revs     *revsql.Store
	registry *clients.Registry
}

func openStores(t *testing.T) stores {
	t.Helper()
	pool := dbtest.Postgres(t)
	db := database.NewPostgres(pool)
	ctx := t.Context()
	cs, err := clientsql.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	us, err := usersql.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := revsql.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	// The server seeds the example API's scope at start; here the
	// catalogue gets it the same way.
	if err := clients.New(cs).SeedScopes(ctx, []string{Scope}); err != nil {
		t.Fatal(err)
	}
	return stores{pool: pool, clients: cs, users: us, revs: rs, registry: clients.New(cs)}
}

// row is a whole row as PostgreSQL holds it, as JSON, without the columns
// that differ by design between two rows (ids, times, hashes).
func dbRow(t *testing.T, pool *pgxpool.Pool, table, key string, id any, without ...string) map[string]any {
	t.Helper()
	var b []byte
	if err := pool.QueryRow(t.Context(), fmt.Sprintf(`SELECT to_jsonb(t) FROM %s t WHERE %s = $1`, table, key), id).Scan(&b); err != nil {
		t.Fatalf("%s %v: %v", table, id, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, c := range without {
		if _, ok := m[c]; !ok {
			t.Fatalf("%s has no column %q", table, c)
		}
		delete(m, c)
	}
	return m
}

func sameRow(t *testing.T, what string, loaded, stored map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(loaded, stored) {
		cols := slices.Sorted(maps.Keys(stored))
		for _, c := range cols {
			if !reflect.DeepEqual(loaded[c], stored[c]) {
				t.Errorf("%s: column %s: loaded %v, the store wrote %v", what, c, loaded[c], stored[c])
			}
		}
		t.Errorf("%s: the loaded row differs from the one the store wrote:\nloaded %v\nstored %v", what, loaded, stored)
	}
}

// The bulk load writes rows the real stores read back as what was
// generated, that are column for column what the registry and the stores
// write themselves, and that authenticate: a generated client with its
// secret, a sampled API key.
func TestLoadedRowsReadBackThroughTheStores(t *testing.T) {
	s := openStores(t)
	ctx := t.Context()
	g, err := newGen(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const n, stride = 40, 10
	ld, smp, err := load(ctx, s.pool, g, n, stride)
	if err != nil {
		t.Fatal(err)
	}
	if ld.Rows != 5*n+n/10 || len(smp.apiKeys) != n/stride {
		t.Fatalf("loaded %+v with %d sampled keys", ld, len(smp.apiKeys))
	}

	// Through the stores: what was generated.
	for _, i := range []int{0, 17, n - 1} {
		want := g.Client(i)
		got, err := s.clients.GetClient(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("client %d: read back %+v, generated %+v", i, got, want)
		}
		secrets, err := s.clients.ListSecrets(ctx, want.ID)
		if err != nil || len(secrets) != 1 || !reflect.DeepEqual(secrets[0], g.Secret(i)) {
			t.Errorf("client %d: secrets %+v (%v), want %+v", i, secrets, err, g.Secret(i))
		}
		u := g.User(i % (n / 10))
		gotU, err := s.users.Get(ctx, u.ID)
		if err != nil || !reflect.DeepEqual(gotU, u) {
			t.Errorf("user %s: read back %+v (%v), generated %+v", u.ID, gotU, err, u)
		}
	}
	entries, head, err := s.revs.List(ctx, 0, 2*n)
	if err != nil || len(entries) != n || head != int64(n) {
		t.Fatalf("revocations: %d entries, head %d (%v); want %d", len(entries), head, err, n)
	}
	for i, e := range entries {
		if want := g.Revocation(i, int64(i)+1); !reflect.DeepEqual(e, want) {
			t.Fatalf("revocation %d: read back %+v, generated %+v", i, e, want)
		}
	}

	// They authenticate, through the registry.
	for _, i := range []int{0, n - 1} {
		resp, err := s.registry.VerifyClientSecret(ctx, &clientsv1.VerifyClientSecretRequest{ClientId: g.ClientID(i), ClientSecret: g.ClientSecret(i)})
		if err != nil || resp.GetClient().GetClientId() != g.ClientID(i) {
			t.Errorf("client %d does not authenticate: %v", i, err)
		}
	}
	for _, raw := range smp.apiKeys {
		resp, err := s.registry.VerifyAPIKey(ctx, &clientsv1.VerifyAPIKeyRequest{ApiKey: raw})
		if err != nil || resp.GetFailure() != clientsv1.APIKeyFailure_API_KEY_FAILURE_UNSPECIFIED || !slices.Equal(resp.GetScopes(), []string{Scope}) {
			t.Errorf("a sampled API key does not verify: %v %v", resp, err)
		}
	}

	// Column for column what the registry writes for the same request.
	created, err := s.registry.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
		Name: g.Client(0).Name, Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY,
		GrantTypes: []string{clients.GrantClientCredentials}, Scopes: []string{Scope},
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetClient().GetClientId()
	sameRow(t, "clients",
		dbRow(t, s.pool, "clients", "client_id", g.ClientID(0), "client_id", "created_at", "updated_at"),
		dbRow(t, s.pool, "clients", "client_id", id, "client_id", "created_at", "updated_at"))
	var secretExpiry [2]*time.Time
	for i, c := range []string{g.ClientID(0), id} {
		if err := s.pool.QueryRow(ctx, `SELECT expires_at FROM client_secrets WHERE client_id = $1`, c).Scan(&secretExpiry[i]); err != nil {
			t.Fatal(err)
		}
	}
	if secretExpiry[0] != nil || secretExpiry[1] != nil {
		t.Errorf("secret expiry: loaded %v, registry %v", secretExpiry[0], secretExpiry[1])
	}
	key, err := s.registry.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: id, Scopes: []string{Scope}})
	if err != nil {
		t.Fatal(err)
	}
	loadedKey, err := s.clients.ListAPIKeys(ctx, g.ClientID(0))
	if err != nil || len(loadedKey) != 1 {
		t.Fatalf("keys of client 0: %v %v", loadedKey, err)
	}
	if len(loadedKey[0].SecretHash) != sha256.Size {
		t.Errorf("loaded key hash: %d bytes, want a SHA-256", len(loadedKey[0].SecretHash))
	}
	// last_used_at: the verifications above touched the loaded key.
	sameRow(t, "api_keys",
		dbRow(t, s.pool, "api_keys", "key_id", loadedKey[0].KeyID, "key_id", "client_id", "secret_hash", "created_at", "last_used_at"),
		dbRow(t, s.pool, "api_keys", "key_id", key.GetKey().GetKeyId(), "key_id", "client_id", "secret_hash", "created_at", "last_used_at"))

	// Users and revocations as their stores write them.
	u := g.User(n)
	u.ID, u.Email = "u_"+lower(b32.EncodeToString(g.prf("store user", 0)[:16])), "store@example.com"
	if err := s.users.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	sameRow(t, "users",
		dbRow(t, s.pool, "users", "user_id", g.User(0).ID, "user_id", "email"),
		dbRow(t, s.pool, "users", "user_id", u.ID, "user_id", "email"))
	e := g.Revocation(n, 0)
	e.ID = "stored-by-the-store"
	stored, _, err := s.revs.Revoke(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	// published differs by design: the store's outbox publishes what it
	// writes, the load's entries went out long ago.
	sameRow(t, "revocations",
		dbRow(t, s.pool, "revocations", "seq", int64(1), "seq", "id", "published"),
		dbRow(t, s.pool, "revocations", "seq", stored.Seq, "seq", "id", "published"))
	if stored.Seq != int64(n)+1 {
		t.Errorf("the store's next revocation got seq %d, want %d after the loaded head", stored.Seq, n+1)
	}
}
