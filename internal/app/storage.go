package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

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

func openStorage(ctx context.Context, cfg *config.Config, log *slog.Logger) (*storage, error) {
	if cfg.DatabaseURL != "" {
		pool, err := openPostgres(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		cs, err := clientspg.New(ctx, pool)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("clients store: %w", err)
		}
		ks, err := keyspg.New(ctx, pool)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("keys store: %w", err)
		}
		rs, err := revocationpg.New(ctx, pool)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("revocation store: %w", err)
		}
		gs, err := grantspg.New(ctx, pool)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("grant store: %w", err)
		}
		us, err := userspg.New(ctx, pool)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("user store: %w", err)
		}
		return &storage{kind: "postgres", clients: cs, keys: ks, revocations: rs, grants: gs, users: us, ping: pool.Ping, close: pool.Close}, nil
	}
	path := filepath.Join(cfg.DataDir, SQLiteFile)
	db, err := database.OpenSQLite(ctx, path)
	if err != nil {
		return nil, err
	}
	cs, err := clientssqlite.New(db)
	if err != nil {
		db.Close() //nolint:errcheck,gosec // already failing
		return nil, fmt.Errorf("clients store: %w", err)
	}
	ks, err := keyssqlite.New(ctx, db)
	if err != nil {
		db.Close() //nolint:errcheck,gosec // already failing
		return nil, fmt.Errorf("keys store: %w", err)
	}
	rs, err := revocationsqlite.New(ctx, db)
	if err != nil {
		db.Close() //nolint:errcheck,gosec // already failing
		return nil, fmt.Errorf("revocation store: %w", err)
	}
	gs, err := grantssqlite.New(ctx, db)
	if err != nil {
		db.Close() //nolint:errcheck,gosec // already failing
		return nil, fmt.Errorf("grant store: %w", err)
	}
	us, err := userssqlite.New(ctx, db)
	if err != nil {
		db.Close() //nolint:errcheck,gosec // already failing
		return nil, fmt.Errorf("user store: %w", err)
	}
	return &storage{kind: "sqlite", clients: cs, keys: ks, revocations: rs, grants: gs, users: us, ping: db.PingContext, close: func() {
		if err := db.Close(); err != nil {
			log.Warn("close sqlite", "error", err)
		}
	}}, nil
}
