package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the PostgreSQL clients.Store.
type Store struct {
	pool *pgxpool.Pool
}

var _ clients.Store = (*Store)(nil)

// New migrates the clients schema and returns the store.
func New(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.Postgres(ctx, pool, "clients", fsys); err != nil {
		return nil, fmt.Errorf("clients: postgres: %w", err)
	}
	return &Store{pool: pool}, nil
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) tx(ctx context.Context, fn func(q querier) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(tx) })
}

// utc normalises what the driver returns (time.Local) to UTC, as the store
// promises; timestamptz itself has no zone.
func utc(t time.Time) time.Time { return t.UTC() }

// Zero times (no expiry, never used) are NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// list keeps NOT NULL text[] columns from receiving NULL for a nil slice.
func list(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// notNilBytes keeps NOT NULL bytea columns from receiving NULL for a nil hash.
func notNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// sameOwner fills an empty owner and rejects a different one, so a secret or
// key cannot be attached to another client by mistake.
func sameOwner(what string, owner *string, want string) error {
	if *owner == "" {
		*owner = want
		return nil
	}
	if *owner != want {
		return fmt.Errorf("%s belongs to client %q, not %q", what, *owner, want)
	}
	return nil
}
