package sqlite_test

import (
	"os"
	"testing"
	"testing/fstest"

	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/clients/conformance"
	"github.com/gatehouse-dev/gatehouse/services/clients/sqlite"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) clients.Store {
		s, err := sqlite.New(dbtest.SQLite(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// someMigrations returns the named files of the store's migrations, to
// build a database as an older release left it.
func someMigrations(t *testing.T, names ...string) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, n := range names {
		b, err := os.ReadFile("migrations/" + n)
		if err != nil {
			t.Fatal(err)
		}
		fsys[n] = &fstest.MapFile{Data: b}
	}
	return fsys
}

// TestRefreshTokenDeliveryMigration upgrades a database holding clients
// from before 0003: each gets the delivery the registry would give it now.
func TestRefreshTokenDeliveryMigration(t *testing.T) {
	db := dbtest.SQLite(t)
	ctx := t.Context()
	if err := migrate.SQLite(ctx, db, "clients", someMigrations(t, "0001_init.sql", "0002_client_resources.sql")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ id, grants string }{
		{"spa", `["authorization_code","refresh_token"]`},
		{"web", `["authorization_code"]`},
		{"svc", `["client_credentials"]`},
	} {
		if _, err := db.ExecContext(ctx, `
			INSERT INTO clients (client_id, name, type, public, auth_method, grant_types, access_token_lifetime_ms, created_at, updated_at)
			VALUES (?, ?, 'first_party', 1, 'none', ?, 600000, 0, 0)`, c.id, c.id, c.grants); err != nil {
			t.Fatal(err)
		}
	}
	s, err := sqlite.New(db)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"spa": clients.RefreshTokenDeliveryBody, "web": "", "svc": ""} {
		c, err := s.GetClient(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.RefreshTokenDelivery != want {
			t.Errorf("client %s after the migration: delivery %q, want %q", id, c.RefreshTokenDelivery, want)
		}
	}
}
