package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the PostgreSQL grantstore.Store.
type Store struct {
	pool *pgxpool.Pool
}

var _ grantstore.Store = (*Store)(nil)

// New migrates the grants schema and returns the store.
func New(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.Postgres(ctx, pool, "grants", fsys); err != nil {
		return nil, fmt.Errorf("grantstore: postgres: %w", err)
	}
	return &Store{pool: pool}, nil
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// one maps a missing row to grantstore.ErrNotFound.
func one(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return grantstore.ErrNotFound
	}
	return err
}

// exists maps a primary-key violation to grantstore.ErrExists.
func exists(err error) error {
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w", grantstore.ErrExists, err)
	}
	return err
}

// norm is t as timestamptz keeps it: UTC, to the microsecond (pgx
// truncates, as the SQLite store does).
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Zero optional times (not redeemed, not revoked, not rotated) are NULL.
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
