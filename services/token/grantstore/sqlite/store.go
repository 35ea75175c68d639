package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the SQLite grantstore.Store.
type Store struct {
	db *sql.DB
}

var _ grantstore.Store = (*Store)(nil)

// New migrates the grants schema in db and returns the store.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.SQLite(ctx, db, "grants", fsys); err != nil {
		return nil, fmt.Errorf("grantstore: sqlite: %w", err)
	}
	return &Store{db: db}, nil
}

// querier is what *sql.DB and the *sql.Conn of a transaction offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// one maps a missing row to grantstore.ErrNotFound.
func one(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
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
