package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/internal/database"
)

// ErrDatabaseTooNew means the database holds a migration of the component
// that this binary does not embed.
var ErrDatabaseTooNew = errors.New("database schema is newer than this binary")

// Migration is one numbered SQL file.
type Migration struct {
	Version int    // from the file name: 0003_x.sql is version 3
	Name    string // the file name, for error messages
	SQL     string
}

var fileName = regexp.MustCompile(`^([0-9]{4,})_[A-Za-z0-9_]+\.sql$`)

// Load reads the *.sql files at the root of fsys (use fs.Sub for an embedded
// subdirectory) and returns them ordered by version. It fails on a badly
// named or empty file and unless the versions run 1, 2, 3... without gaps or
// repeats, which is how a migration number taken twice by two branches shows
// up.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %q: name must be NNNN_description.sql", e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("migration %q: %w", e.Name(), err)
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("migration %q: %w", e.Name(), err)
		}
		if strings.TrimSpace(string(b)) == "" {
			return nil, fmt.Errorf("migration %q is empty", e.Name())
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	slices.SortStableFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %q: expected version %d: versions must run from 1 without gaps or repeats", m.Name, i+1)
		}
	}
	return ms, nil
}

// next returns the migration to apply on a database at version current, or
// nil when there is none.
func next(component string, current int, ms []Migration) (*Migration, error) {
	if current > len(ms) {
		return nil, fmt.Errorf("%w: component %q is at version %d, this binary knows versions up to %d; deploy a newer binary",
			ErrDatabaseTooNew, component, current, len(ms))
	}
	if current == len(ms) {
		return nil, nil
	}
	return &ms[current], nil
}

// Run brings component's schema in db up to the newest migration of db's
// dialect: dir in fsys holds one directory per dialect, postgres/ and
// sqlite/ (database.Dialect.String), since the two schemas use different
// column types. On SQLite it first checks that foreign keys are on, which every
// schema relies on for its cascades and references.
func Run(ctx context.Context, db database.DB, component string, fsys fs.FS, dir string) error {
	sub, err := fs.Sub(fsys, path.Join(dir, db.Dialect().String()))
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	switch db := db.(type) {
	case *database.PostgresDB:
		return Postgres(ctx, db.Pool(), component, sub)
	case *database.SQLiteDB:
		var fk int
		if err := db.Handle().QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		if fk != 1 {
			return fmt.Errorf("migrate %s: foreign keys are off; open the database with database.OpenSQLite", component)
		}
		return SQLite(ctx, db.Handle(), component, sub)
	}
	return fmt.Errorf("migrate %s: no migrations for a %T", component, db)
}

// SQLite brings component's schema in db up to the newest migration in fsys.
func SQLite(ctx context.Context, db *sql.DB, component string, fsys fs.FS) error {
	ms, err := Load(fsys)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	for {
		done, err := sqliteStep(ctx, db, component, ms)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		if done {
			return nil
		}
	}
}

const sqliteSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	component  TEXT    NOT NULL,
	version    INTEGER NOT NULL,
	applied_at TEXT    NOT NULL,
	PRIMARY KEY (component, version)
)`

// sqliteStep applies at most one migration. BEGIN IMMEDIATE takes the write
// lock before the version is read, so two processes cannot both decide to
// apply the same file.
func sqliteStep(ctx context.Context, db *sql.DB, component string, ms []Migration) (done bool, err error) {
	err = database.ImmediateTx(ctx, db, func(conn *sql.Conn) error {
		if _, err := conn.ExecContext(ctx, sqliteSchemaMigrations); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		err := conn.QueryRowContext(ctx,
			`SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?`, component).Scan(&current)
		if err != nil {
			return fmt.Errorf("read version: %w", err)
		}
		m, err := next(component, current, ms)
		if err != nil {
			return err
		}
		if m == nil {
			done = true
			return nil
		}
		if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("apply %s: %w", m.Name, err)
		}
		_, err = conn.ExecContext(ctx,
			`INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)`,
			component, m.Version, time.Now().UTC().Format(time.RFC3339Nano))
		if err != nil {
			return fmt.Errorf("record %s: %w", m.Name, err)
		}
		return nil
	})
	return done, err
}

// Postgres brings component's schema in the pool's database (in the first
// schema of its search_path) up to the newest migration in fsys.
func Postgres(ctx context.Context, pool *pgxpool.Pool, component string, fsys fs.FS) error {
	ms, err := Load(fsys)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	for {
		done, err := postgresStep(ctx, pool, component, ms)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		if done {
			return nil
		}
	}
}

// postgresLockKey is the advisory lock every migration step takes. One key
// for all components: creating schema_migrations itself must be serialised,
// and steps are short enough that components need not run in parallel.
const postgresLockKey int64 = 0x6761746568_6d67 // "gatehmg"

const postgresSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	component  text        NOT NULL,
	version    integer     NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (component, version)
)`

// postgresStep applies at most one migration. The transaction-scoped advisory
// lock is released by COMMIT or ROLLBACK, so a crashed replica cannot leave
// it held.
func postgresStep(ctx context.Context, pool *pgxpool.Pool, component string, ms []Migration) (done bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, postgresLockKey); err != nil {
			return fmt.Errorf("take advisory lock: %w", err)
		}
		if _, err := tx.Exec(ctx, postgresSchemaMigrations); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		err := tx.QueryRow(ctx,
			`SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $1`, component).Scan(&current)
		if err != nil {
			return fmt.Errorf("read version: %w", err)
		}
		m, err := next(component, current, ms)
		if err != nil {
			return err
		}
		if m == nil {
			done = true
			return nil
		}
		// Without arguments pgx uses the simple protocol, which accepts a
		// file of several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("apply %s: %w", m.Name, err)
		}
		_, err = tx.Exec(ctx,
			`INSERT INTO schema_migrations (component, version) VALUES ($1, $2)`, component, m.Version)
		if err != nil {
			return fmt.Errorf("record %s: %w", m.Name, err)
		}
		return nil
	})
	return done, err
}
