package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/internal/database"
)

// EnvPostgresURL names the environment variable that points the PostgreSQL
// tests at a server; the user needs the right to create schemas.
const EnvPostgresURL = "GATEHOUSE_TEST_DATABASE_URL"

// DefaultPostgresURL is used when EnvPostgresURL is unset: a local server
// with trust authentication, as in CI.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// SQLite opens a new database file in t.TempDir() with the production
// settings of database.OpenSQLite, and closes it when the test ends.
func SQLite(t testing.TB) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := database.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("dbtest: close sqlite: %v", err)
		}
	})
	return db
}

// Postgres returns a pool whose connections use a new, empty schema of their
// own (through search_path), dropped with everything in it when the test
// ends. Without a reachable server the test is skipped, unless CI=true, where
// it fails: CI must run these tests.
func Postgres(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, schema := freshSchema(t)
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Tests open many pools one after another and packages run in
	// parallel: keep each small so the server's max_connections holds.
	cfg.MaxConns = 8
	pool, err := database.OpenPostgresConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(pool.Close) // runs before dropSchema: cleanups are LIFO
	return pool
}

// SQLiteDB is SQLite as a database.DB.
func SQLiteDB(t testing.TB) *database.SQLiteDB { return database.NewSQLite(SQLite(t)) }

// PostgresDB is Postgres as a database.DB; skipped or failed alike.
func PostgresDB(t testing.TB) *database.PostgresDB { return database.NewPostgres(Postgres(t)) }

// Backend opens a fresh database of one kind for a test.
type Backend struct {
	Name string // "sqlite" or "postgres": a subtest name
	Open func(t testing.TB) database.DB
}

// Backends are both kinds, for a test that runs on each: one store
// implementation, one suite, two databases.
var Backends = []Backend{
	{"sqlite", func(t testing.TB) database.DB { return SQLiteDB(t) }},
	{"postgres", func(t testing.TB) database.DB { return PostgresDB(t) }},
}

// Each runs test as a subtest on a fresh database of each kind.
func Each(t *testing.T, test func(t *testing.T, db database.DB)) {
	t.Helper()
	for _, be := range Backends {
		t.Run(be.Name, func(t *testing.T) { test(t, be.Open(t)) })
	}
}

// Reopen opens db's database again, with a connection pool of its own, as
// another process or replica would, and closes it when the test ends
// (before db, which was opened first).
func Reopen(t testing.TB, db database.DB) database.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch db := db.(type) {
	case *database.SQLiteDB:
		var (
			seq        int
			name, path string
		)
		if err := db.Handle().QueryRowContext(ctx, "PRAGMA database_list").Scan(&seq, &name, &path); err != nil {
			t.Fatalf("dbtest: reopen: %v", err)
		}
		h, err := database.OpenSQLite(ctx, path)
		if err != nil {
			t.Fatalf("dbtest: reopen: %v", err)
		}
		t.Cleanup(func() { _ = h.Close() })
		return database.NewSQLite(h)
	case *database.PostgresDB:
		// Config() is a copy, with the test schema's search_path.
		pool, err := database.OpenPostgresConfig(ctx, db.Pool().Config())
		if err != nil {
			t.Fatalf("dbtest: reopen: %v", err)
		}
		t.Cleanup(pool.Close)
		return database.NewPostgres(pool)
	}
	t.Fatalf("dbtest: reopen a %T", db)
	return nil
}

// Handles returns db and n-1 more handles on its database, each with a
// pool of its own (Reopen): what n processes or replicas sharing one
// database would have.
func Handles(t testing.TB, db database.DB, n int) []database.DB {
	t.Helper()
	out := []database.DB{db}
	for len(out) < n {
		out = append(out, Reopen(t, db))
	}
	return out
}

// NewStore is what a store's conformance suite takes for one store: open
// (a store's New) on a fresh database of be, as S, the interface the suite
// tests.
func NewStore[S, T any](be Backend, open func(context.Context, database.DB) (T, error)) func(*testing.T) S {
	return func(t *testing.T) S { return NewStores[S](be, open)(t, 1)[0] }
}

// NewStores is NewStore for suites that take n stores sharing one fresh
// database, each on a handle of its own (Handles), as n processes or
// replicas would.
func NewStores[S, T any](be Backend, open func(context.Context, database.DB) (T, error)) func(*testing.T, int) []S {
	return func(t *testing.T, n int) []S {
		t.Helper()
		var out []S
		for _, db := range Handles(t, be.Open(t), n) {
			st, err := open(t.Context(), db)
			if err != nil {
				t.Fatal(err)
			}
			s, ok := any(st).(S)
			if !ok {
				t.Fatalf("dbtest: a %T is not a %T", st, s)
			}
			out = append(out, s)
		}
		return out
	}
}

// PostgresURL is Postgres for a process of its own (the binary under an
// end-to-end test): a connection URL whose search_path is a new, empty
// schema, dropped when the test ends; skipped or failed alike.
func PostgresURL(t testing.TB) string {
	t.Helper()
	_, schema := freshSchema(t)
	u, err := url.Parse(connString())
	if err != nil {
		t.Fatalf("dbtest: %s is not a valid PostgreSQL URL: %v", EnvPostgresURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func connString() string {
	if s := os.Getenv(EnvPostgresURL); s != "" {
		return s
	}
	return DefaultPostgresURL
}

// freshSchema creates a schema of the test's own on the server of
// EnvPostgresURL and drops it when the test ends; without a reachable
// server the test is skipped, or fails under CI.
func freshSchema(t testing.TB) (*pgxpool.Config, string) {
	t.Helper()
	cs := connString()
	cfg, err := pgxpool.ParseConfig(cs)
	if err != nil {
		t.Fatalf("dbtest: %s is not a valid PostgreSQL URL: %v", EnvPostgresURL, err)
	}
	target := database.PostgresTarget(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := connectOrRemember(ctx, cs, cfg)
	if err != nil {
		msg := "dbtest: PostgreSQL is not reachable at %s (%v); start one there or set %s to a server where the user may create schemas, e.g. %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		if inCI() {
			t.Fatalf(msg, target, err, EnvPostgresURL, EnvPostgresURL)
		}
		t.Skipf(msg, target, err, EnvPostgresURL, EnvPostgresURL)
	}
	schema := "test_" + randomHex(8)
	_, err = admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	_ = admin.Close(ctx)
	if err != nil {
		t.Fatalf("dbtest: create schema at %s: %v", target, err)
	}
	t.Cleanup(func() { dropSchema(t, cfg, schema) })
	return cfg, schema
}

// unreachable remembers servers that refused a connection, so that a suite
// of many tests skips at once instead of waiting for each one to time out.
var unreachable sync.Map // connection string -> error

func connectOrRemember(ctx context.Context, connString string, cfg *pgxpool.Config) (*pgx.Conn, error) {
	if err, ok := unreachable.Load(connString); ok {
		return nil, err.(error)
	}
	conn, err := connect(ctx, cfg)
	if err != nil {
		unreachable.Store(connString, err)
	}
	return conn, err
}

func connect(ctx context.Context, cfg *pgxpool.Config) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
}

func dropSchema(t testing.TB, cfg *pgxpool.Config, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := connect(ctx, cfg)
	if err != nil {
		t.Errorf("dbtest: drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx) //nolint:errcheck // nothing to do about it
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("dbtest: drop schema %s: %v", schema, err)
	}
}

func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
