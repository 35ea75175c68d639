package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the SQLite clients.Store.
type Store struct {
	db *sql.DB
}

var _ clients.Store = (*Store)(nil)

// New migrates the clients schema in db and returns the store.
func New(db *sql.DB) (*Store, error) {
	ctx := context.Background()
	var fk int
	if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return nil, fmt.Errorf("clients: sqlite: %w", err)
	}
	if fk != 1 {
		// Cascades and the scope checks would silently not happen.
		return nil, errors.New("clients: sqlite: foreign keys are off; open the database with database.OpenSQLite")
	}
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.SQLite(ctx, db, "clients", fsys); err != nil {
		return nil, fmt.Errorf("clients: sqlite: %w", err)
	}
	return &Store{db: db}, nil
}

// querier is what both *sql.DB and the *sql.Conn of a transaction offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) tx(ctx context.Context, fn func(q querier) error) error {
	return database.ImmediateTx(ctx, s.db, func(conn *sql.Conn) error { return fn(conn) })
}

func jsonList(v []string) (string, error) {
	if v == nil {
		v = []string{} // "[]", not "null"
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// parseList never returns nil: callers get the same empty slice whether the
// list was stored from nil or from an empty slice.
func parseList(s string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("corrupt list %q: %w", s, err)
	}
	if v == nil {
		v = []string{}
	}
	return v, nil
}

// notNilBytes keeps NOT NULL blob columns from receiving NULL for a nil hash.
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
