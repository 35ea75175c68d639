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
	"github.com/gatehouse-dev/gatehouse/services/audit"
	auditsql "github.com/gatehouse-dev/gatehouse/services/audit/sqlstore"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	clientsql "github.com/gatehouse-dev/gatehouse/services/clients/sqlstore"
	"github.com/gatehouse-dev/gatehouse/services/keys"
	keysql "github.com/gatehouse-dev/gatehouse/services/keys/sqlstore"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
	revocationsql "github.com/gatehouse-dev/gatehouse/services/revocation/sqlstore"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	grantsql "github.com/gatehouse-dev/gatehouse/services/token/grantstore/sqlstore"
	"github.com/gatehouse-dev/gatehouse/services/users"
	usersql "github.com/gatehouse-dev/gatehouse/services/users/sqlstore"
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
	audit       audit.Store
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
	"clients":    {"clients", "audit"},
	"keys":       {"keys", "audit"},
	"revocation": {"revocations", "audit"},
	"token":      {"grants", "users", "audit"},
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
	st := &storage{}
	var db database.DB
	if cfg.DatabaseURL != "" {
		pool, err := openPostgres(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		db = database.NewPostgres(pool)
		st.kind, st.ping, st.close = "postgres", pool.Ping, pool.Close
	} else {
		sdb, err := database.OpenSQLite(ctx, filepath.Join(cfg.DataDir, SQLiteFile))
		if err != nil {
			return nil, err
		}
		db = database.NewSQLite(sdb)
		st.kind, st.ping = "sqlite", sdb.PingContext
		st.close = func() {
			if err := sdb.Close(); err != nil {
				log.Warn("close sqlite", "error", err)
			}
		}
	}
	// Each owned store's constructor migrates its schema, in turn,
	// stopping at the first failure.
	for _, sp := range []struct {
		store string
		open  func() error
	}{
		{"clients", func() (err error) { st.clients, err = clientsql.New(ctx, db); return err }},
		{"keys", func() (err error) { st.keys, err = keysql.New(ctx, db); return err }},
		{"revocations", func() (err error) { st.revocations, err = revocationsql.New(ctx, db); return err }},
		{"grants", func() (err error) { st.grants, err = grantsql.New(ctx, db); return err }},
		{"users", func() (err error) { st.users, err = usersql.New(ctx, db); return err }},
		{"audit", func() (err error) { st.audit, err = auditsql.New(ctx, db); return err }},
	} {
		if cfg.Service != "" && !slices.Contains(ownedStores[cfg.Service], sp.store) {
			continue
		}
		if err := sp.open(); err != nil {
			st.close()
			return nil, fmt.Errorf("%s store: %w", sp.store, err)
		}
	}
	return st, nil
}
