package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
)

// target is one database under test, seen through what the tests need.
type target struct {
	migrate  func(ctx context.Context, component string, fsys fs.FS) error
	exec     func(t *testing.T, sql string) error
	versions func(t *testing.T, component string) []int
}

func sqliteTarget(t *testing.T) target {
	db := dbtest.SQLite(t)
	return target{
		migrate: func(ctx context.Context, component string, fsys fs.FS) error {
			return migrate.SQLite(ctx, db, component, fsys)
		},
		exec: func(t *testing.T, sql string) error {
			_, err := db.ExecContext(t.Context(), sql)
			return err
		},
		versions: func(t *testing.T, component string) []int {
			rows, err := db.QueryContext(t.Context(),
				`SELECT version FROM schema_migrations WHERE component = ? ORDER BY version`, component)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var vs []int
			for rows.Next() {
				var v int
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				vs = append(vs, v)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return vs
		},
	}
}

func postgresTarget(t *testing.T) target {
	pool := dbtest.Postgres(t)
	return target{
		migrate: func(ctx context.Context, component string, fsys fs.FS) error {
			return migrate.Postgres(ctx, pool, component, fsys)
		},
		exec: func(t *testing.T, sql string) error {
			_, err := pool.Exec(t.Context(), sql)
			return err
		},
		versions: func(t *testing.T, component string) []int {
			rows, err := pool.Query(t.Context(),
				`SELECT version FROM schema_migrations WHERE component = $1 ORDER BY version`, component)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var vs []int
			for rows.Next() {
				var v int
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				vs = append(vs, v)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return vs
		},
	}
}

func files(sqls ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for i, s := range sqls {
		m[fmt.Sprintf("%04d_step%d.sql", i+1, i+1)] = &fstest.MapFile{Data: []byte(s)}
	}
	return m
}

// Two statements per file: runners must accept multi-statement files.
var (
	m1 = "CREATE TABLE a (id INTEGER PRIMARY KEY);\nINSERT INTO a (id) VALUES (1);"
	m2 = "CREATE TABLE b (id INTEGER PRIMARY KEY);\nINSERT INTO b (id) VALUES (2);"
	m3 = "CREATE TABLE c (id INTEGER PRIMARY KEY);"
)

func TestSQLite(t *testing.T)   { runAll(t, sqliteTarget) }
func TestPostgres(t *testing.T) { runAll(t, postgresTarget) }

func runAll(t *testing.T, open func(*testing.T) target) {
	t.Run("applies in order and records versions", func(t *testing.T) {
		db := open(t)
		if err := db.migrate(t.Context(), "svc", files(m1, m2)); err != nil {
			t.Fatal(err)
		}
		if got := db.versions(t, "svc"); !slices.Equal(got, []int{1, 2}) {
			t.Fatalf("versions = %v, want [1 2]", got)
		}
		if err := db.exec(t, "INSERT INTO b (id) VALUES (3)"); err != nil {
			t.Fatalf("table of migration 2 missing: %v", err)
		}
	})

	t.Run("idempotent on restart", func(t *testing.T) {
		db := open(t)
		for range 3 {
			if err := db.migrate(t.Context(), "svc", files(m1, m2)); err != nil {
				t.Fatal(err)
			}
		}
		if got := db.versions(t, "svc"); !slices.Equal(got, []int{1, 2}) {
			t.Fatalf("versions = %v, want [1 2]", got)
		}
	})

	t.Run("applies only new migrations", func(t *testing.T) {
		db := open(t)
		if err := db.migrate(t.Context(), "svc", files(m1)); err != nil {
			t.Fatal(err)
		}
		// Migration 1 inserts id 1: running it again would fail on the key.
		if err := db.migrate(t.Context(), "svc", files(m1, m2, m3)); err != nil {
			t.Fatal(err)
		}
		if got := db.versions(t, "svc"); !slices.Equal(got, []int{1, 2, 3}) {
			t.Fatalf("versions = %v, want [1 2 3]", got)
		}
	})

	t.Run("refuses a database newer than the binary", func(t *testing.T) {
		db := open(t)
		if err := db.migrate(t.Context(), "svc", files(m1, m2)); err != nil {
			t.Fatal(err)
		}
		err := db.migrate(t.Context(), "svc", files(m1))
		if !errors.Is(err, migrate.ErrDatabaseTooNew) {
			t.Fatalf("err = %v, want ErrDatabaseTooNew", err)
		}
		for _, want := range []string{`"svc"`, "version 2", "up to 1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
	})

	t.Run("failed migration leaves no trace", func(t *testing.T) {
		db := open(t)
		if err := db.migrate(t.Context(), "svc", files(m1)); err != nil {
			t.Fatal(err)
		}
		bad := "CREATE TABLE b (id INTEGER PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);"
		err := db.migrate(t.Context(), "svc", files(m1, bad))
		if err == nil || !strings.Contains(err.Error(), "0002_step2.sql") {
			t.Fatalf("err = %v, want a failure naming 0002_step2.sql", err)
		}
		if got := db.versions(t, "svc"); !slices.Equal(got, []int{1}) {
			t.Fatalf("versions = %v, want [1]", got)
		}
		// The first statement of the failed file was rolled back with it,
		// so the fixed file applies cleanly.
		if err := db.migrate(t.Context(), "svc", files(m1, m2)); err != nil {
			t.Fatalf("retry with fixed migration: %v", err)
		}
	})

	t.Run("components are independent", func(t *testing.T) {
		db := open(t)
		if err := db.migrate(t.Context(), "one", files(m1, m2)); err != nil {
			t.Fatal(err)
		}
		if err := db.migrate(t.Context(), "two", files(m3)); err != nil {
			t.Fatal(err)
		}
		if got := db.versions(t, "one"); !slices.Equal(got, []int{1, 2}) {
			t.Errorf("one: versions = %v, want [1 2]", got)
		}
		if got := db.versions(t, "two"); !slices.Equal(got, []int{1}) {
			t.Errorf("two: versions = %v, want [1]", got)
		}
	})

	// Replicas starting together: each migration must run exactly once.
	t.Run("concurrent runners", func(t *testing.T) {
		db := open(t)
		fsys := files(m1, m2, m3)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { errs[i] = db.migrate(t.Context(), "svc", fsys) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("runner %d: %v", i, err)
			}
		}
		if got := db.versions(t, "svc"); !slices.Equal(got, []int{1, 2, 3}) {
			t.Fatalf("versions = %v, want [1 2 3]", got)
		}
	})

	t.Run("refuses bad migration sets before touching the database", func(t *testing.T) {
		db := open(t)
		if err := db.migrate(t.Context(), "svc", fstest.MapFS{
			"0002_late.sql": {Data: []byte(m2)},
		}); err == nil {
			t.Error("a set starting at 2 was accepted")
		}
		if err := db.exec(t, "SELECT 1 FROM schema_migrations"); err == nil {
			t.Error("schema_migrations was created")
		}
	})
}

func TestLoad(t *testing.T) {
	ok := fstest.MapFS{
		"0002_second.sql": {Data: []byte("B")},
		"0001_init.sql":   {Data: []byte("A")},
		"0010_tenth.sql":  {Data: []byte("J")},
		"README.md":       {Data: []byte("not a migration")},
	}
	for v := 3; v <= 9; v++ {
		ok[fmt.Sprintf("%04d_x.sql", v)] = &fstest.MapFile{Data: []byte("x")}
	}
	ms, err := migrate.Load(ok)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 10 || ms[0].Name != "0001_init.sql" || ms[1].SQL != "B" || ms[9].Version != 10 {
		t.Fatalf("Load = %+v", ms)
	}

	bad := []struct {
		name string
		fsys fstest.MapFS
	}{
		{"gap", fstest.MapFS{"0001_a.sql": {Data: []byte("x")}, "0003_c.sql": {Data: []byte("x")}}},
		{"repeat", fstest.MapFS{"0001_a.sql": {Data: []byte("x")}, "0001_b.sql": {Data: []byte("x")}}},
		{"not from 1", fstest.MapFS{"0002_a.sql": {Data: []byte("x")}}},
		{"bad name", fstest.MapFS{"1_init.sql": {Data: []byte("x")}}},
		{"no description", fstest.MapFS{"0001.sql": {Data: []byte("x")}}},
		{"empty", fstest.MapFS{"0001_a.sql": {Data: []byte(" \n")}}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if ms, err := migrate.Load(tt.fsys); err == nil {
				t.Fatalf("Load accepted %v", ms)
			}
		})
	}
}
