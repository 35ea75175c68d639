package sqlstore_test

import (
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/clients/conformance"
	"github.com/gatehouse-dev/gatehouse/services/clients/sqlstore"
)

func TestConformance(t *testing.T) {
	for _, be := range dbtest.Backends {
		t.Run(be.Name, func(t *testing.T) { conformance.Run(t, dbtest.NewStore[clients.Store](be, sqlstore.New)) })
	}
}

// someMigrations returns the named files of the store's migrations for
// db's dialect, to build a database as an older release left it.
func someMigrations(t *testing.T, db database.DB, names ...string) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	dir := db.Dialect().String()
	for _, n := range names {
		b, err := os.ReadFile("migrations/" + dir + "/" + n)
		if err != nil {
			t.Fatal(err)
		}
		fsys[dir+"/"+n] = &fstest.MapFile{Data: b}
	}
	return fsys
}

// TestRefreshTokenDeliveryMigration upgrades a database holding clients
// from before 0003: each gets the delivery the registry would give it now.
func TestRefreshTokenDeliveryMigration(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		if err := migrate.Run(ctx, db, "clients", someMigrations(t, db, "0001_init.sql", "0002_client_resources.sql"), "."); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			id     string
			grants []string
		}{
			{"spa", []string{"authorization_code", "refresh_token"}},
			{"web", []string{"authorization_code"}},
			{"svc", []string{"client_credentials"}},
		} {
			if _, err := db.Exec(ctx, `
					INSERT INTO clients (client_id, name, type, public, auth_method, grant_types, access_token_lifetime_ms, created_at, updated_at)
					VALUES ($1, $1, 'first_party', true, 'none', $2, 600000, $3, $3)`, c.id, c.grants, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		s, err := sqlstore.New(ctx, db)
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
	})
}

// TestOpenIDMigration upgrades a database holding a client from before
// 0004: it reads back with the zero OpenID Connect settings, and can then
// be given them.
func TestOpenIDMigration(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		old := someMigrations(t, db, "0001_init.sql", "0002_client_resources.sql", "0003_refresh_token_delivery.sql")
		if err := migrate.Run(ctx, db, "clients", old, "."); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `
				INSERT INTO clients (client_id, name, type, public, auth_method, redirect_uris, grant_types, access_token_lifetime_ms, created_at, updated_at)
				VALUES ('spa', 'SPA', 'first_party', true, 'none', $1, $2, 600000, $3, $3)`,
			[]string{"https://app.example/cb"}, []string{"authorization_code"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		s, err := sqlstore.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.GetClient(ctx, "spa")
		if err != nil {
			t.Fatal(err)
		}
		if c.PostLogoutRedirectURIs == nil || len(c.PostLogoutRedirectURIs) != 0 || c.BackchannelLogoutURI != "" ||
			c.BackchannelLogoutSessionRequired || c.IDTokenLifetime != 0 {
			t.Fatalf("client from before 0004: %+v, want the zero OpenID Connect settings", c)
		}
		c, err = s.UpdateClient(ctx, "spa", func(c *clients.Client) error {
			c.PostLogoutRedirectURIs = []string{"https://app.example/bye"}
			c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = "https://app.example/bc", true
			c.IDTokenLifetime = 2 * time.Minute
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.PostLogoutRedirectURIs) != 1 || c.BackchannelLogoutURI != "https://app.example/bc" ||
			!c.BackchannelLogoutSessionRequired || c.IDTokenLifetime != 2*time.Minute {
			t.Fatalf("after the update: %+v", c)
		}
	})
}
