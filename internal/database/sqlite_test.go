package database_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/database"
)

func TestOpenSQLiteCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	db, err := database.OpenSQLite(t.Context(), filepath.Join(dir, "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("directory mode = %v, want 0700", perm)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err != nil {
		t.Errorf("database file: %v", err)
	}
}

func TestOpenSQLiteOddFileName(t *testing.T) {
	// '?', '#', '%' and spaces would be taken for URI syntax if the path
	// were not escaped.
	name := "we?ird #name% 1.db"
	path := filepath.Join(t.TempDir(), name)
	db, err := database.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created under its exact name: %v", err)
	}
}

// Every connection of the pool must carry the settings, not only the first.
func TestOpenSQLitePragmasOnEveryConnection(t *testing.T) {
	ctx := t.Context()
	db, err := database.OpenSQLite(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 5
	conns := make([]*sql.Conn, n)
	for i := range conns {
		if conns[i], err = db.Conn(ctx); err != nil { // held: each is distinct
			t.Fatal(err)
		}
		defer conns[i].Close()
	}
	want := map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"busy_timeout": "5000",
		"synchronous":  "1", // NORMAL
	}
	for i, c := range conns {
		for pragma, w := range want {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if strings.ToLower(got) != w {
				t.Errorf("connection %d: %s = %q, want %q", i, pragma, got, w)
			}
		}
	}
}

func TestOpenSQLiteNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := database.OpenSQLite(t.Context(), path)
	if err == nil {
		db.Close()
		t.Fatal("OpenSQLite of a non-database succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestImmediateTx(t *testing.T) {
	ctx := t.Context()
	db, err := database.OpenSQLite(ctx, filepath.Join(t.TempDir(), "tx.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0)"); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("error rolls back", func(t *testing.T) {
		boom := errors.New("boom")
		err := database.ImmediateTx(ctx, db, func(c *sql.Conn) error {
			if _, err := c.ExecContext(ctx, "UPDATE counter SET n = 100"); err != nil {
				return err
			}
			return boom
		})
		if err != boom { //nolint:errorlint // the contract returns it unwrapped
			t.Fatalf("err = %v, want boom unchanged", err)
		}
		if n := count(); n != 0 {
			t.Fatalf("n = %d after rollback, want 0", n)
		}
	})

	t.Run("panic rolls back", func(t *testing.T) {
		func() {
			defer func() { _ = recover() }()
			_ = database.ImmediateTx(ctx, db, func(c *sql.Conn) error {
				if _, err := c.ExecContext(ctx, "UPDATE counter SET n = 100"); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		if n := count(); n != 0 {
			t.Fatalf("n = %d after panic, want 0", n)
		}
	})

	t.Run("cancelled context leaves no open transaction", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		err := database.ImmediateTx(cctx, db, func(c *sql.Conn) error {
			if _, err := c.ExecContext(cctx, "UPDATE counter SET n = 100"); err != nil {
				return err
			}
			cancel()
			return cctx.Err()
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		// A connection returned mid-transaction would make this BEGIN fail.
		err = database.ImmediateTx(ctx, db, func(c *sql.Conn) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 0 {
			t.Fatalf("n = %d, want 0", n)
		}
	})

	// Read-modify-write from many goroutines: deferred transactions would
	// fail with SQLITE_BUSY or lose increments.
	t.Run("concurrent read-modify-write", func(t *testing.T) {
		const workers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for range workers {
			wg.Go(func() {
				for range each {
					errs <- database.ImmediateTx(ctx, db, func(c *sql.Conn) error {
						var n int
						if err := c.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n); err != nil {
							return err
						}
						_, err := c.ExecContext(ctx, "UPDATE counter SET n = ?", n+1)
						return err
					})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := count(); n != workers*each {
			t.Fatalf("n = %d, want %d", n, workers*each)
		}
	})
}
