package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	clientspg "github.com/gatehouse-dev/gatehouse/services/clients/postgres"
	clientssqlite "github.com/gatehouse-dev/gatehouse/services/clients/sqlite"
	"github.com/gatehouse-dev/gatehouse/services/keys"
	keyspg "github.com/gatehouse-dev/gatehouse/services/keys/postgres"
	keyssqlite "github.com/gatehouse-dev/gatehouse/services/keys/sqlite"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
	revocationpg "github.com/gatehouse-dev/gatehouse/services/revocation/postgres"
	revocationsqlite "github.com/gatehouse-dev/gatehouse/services/revocation/sqlite"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	grantspg "github.com/gatehouse-dev/gatehouse/services/token/grantstore/postgres"
	grantssqlite "github.com/gatehouse-dev/gatehouse/services/token/grantstore/sqlite"
	"github.com/gatehouse-dev/gatehouse/services/users"
	userspg "github.com/gatehouse-dev/gatehouse/services/users/postgres"
	userssqlite "github.com/gatehouse-dev/gatehouse/services/users/sqlite"
	"github.com/jackc/pgx/v5/pgxpool"
)

// storage is every service's store on one backend.
type storage struct {
	kind        string
	clients     clients.Store
	keys        keys.Store
	revocations revocation.Store
	grants      grantstore.Store
	users       users.Store
	ping        func(context.Context) error
	close       func()
}

// openPostgres opens the pool with a span for every query of a traced
// request (tracing.PgxTracer). SQLite (database/sql) has no tracer hook and
// is not traced.
func openPostgres(ctx context.Context, connString string) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// OpenPostgres fails the same way, with the password scrubbed
		// from the message.
		return database.OpenPostgres(ctx, connString)
	}
	if tracing.Enabled() {
		pc.ConnConfig.Tracer = tracing.PgxTracer()
	}
	return database.OpenPostgresConfig(ctx, pc)
}

// SQLiteFile is the embedded database's file name in the data directory.
const SQLiteFile = "gatehouse.db"

// ownedStores are the stores each service of a split deployment opens
// (creating their tables): its own only. The all-in-one process ("") opens
// every one.
var ownedStores = map[string][]string{
	"clients":    {"clients"},
	"keys":       {"keys"},
	"revocation": {"revocations"},
	"token":      {"grants", "users"},
}

// openStorage opens the stores of cfg.Service on PostgreSQL
// (--database-url) or on the SQLite file under --data-dir; the others are
// nil.
func openStorage(ctx context.Context, cfg *config.Config, log *slog.Logger) (*storage, error) {
	// The data directory holds the SQLite file, and the embedded NATS and
	// the admin credentials whatever the store.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	owns := func(store string) bool {
		return cfg.Service == "" || slices.Contains(ownedStores[cfg.Service], store)
	}
	st := &storage{}
	type step struct {
		store string
		open  func() error
	}
	// open runs each owned store's constructor in turn, stopping at the
	// first failure.
	open := func(steps ...step) error {
		for _, sp := range steps {
			if !owns(sp.store) {
				continue
			}
			if err := sp.open(); err != nil {
				return fmt.Errorf("%s store: %w", sp.store, err)
			}
		}
		return nil
	}
	if cfg.DatabaseURL != "" {
		pool, err := openPostgres(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		err = open(
			step{"clients", func() (err error) { st.clients, err = clientspg.New(ctx, pool); return err }},
			step{"keys", func() (err error) { st.keys, err = keyspg.New(ctx, pool); return err }},
			step{"revocations", func() (err error) { st.revocations, err = revocationpg.New(ctx, pool); return err }},
			step{"grants", func() (err error) { st.grants, err = grantspg.New(ctx, pool); return err }},
			step{"users", func() (err error) { st.users, err = userspg.New(ctx, pool); return err }},
		)
		if err != nil {
			pool.Close()
			return nil, err
		}
		st.kind, st.ping, st.close = "postgres", pool.Ping, pool.Close
		return st, nil
	}
	path := filepath.Join(cfg.DataDir, SQLiteFile)
	db, err := database.OpenSQLite(ctx, path)
	if err != nil {
		return nil, err
	}
	err = open(
		step{"clients", func() (err error) { st.clients, err = clientssqlite.New(db); return err }},
		step{"keys", func() (err error) { st.keys, err = keyssqlite.New(ctx, db); return err }},
		step{"revocations", func() (err error) { st.revocations, err = revocationsqlite.New(ctx, db); return err }},
		step{"grants", func() (err error) { st.grants, err = grantssqlite.New(ctx, db); return err }},
		step{"users", func() (err error) { st.users, err = userssqlite.New(ctx, db); return err }},
	)
	if err != nil {
		db.Close() //nolint:errcheck,gosec // already failing
		return nil, err
	}
	st.kind, st.ping = "sqlite", db.PingContext
	st.close = func() {
		if err := db.Close(); err != nil {
			log.Warn("close sqlite", "error", err)
		}
	}
	return st, nil
}
