package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers driver "sqlite"
)

// sqlitePragmas are applied by the driver to every connection it opens.
// Setting them on one *sql.DB connection with Exec would leave the other
// pooled connections without them, and foreign_keys in particular is per
// connection.
var sqlitePragmas = []string{
	"busy_timeout(5000)",  // wait for a writer instead of failing with SQLITE_BUSY
	"journal_mode(WAL)",   // readers do not block the writer and vice versa
	"foreign_keys(1)",     // the schemas rely on FKs for cascades and scope checks
	"synchronous(NORMAL)", // durable across process crashes in WAL; fsync at checkpoints
}

// SQLiteDSN is the data source name OpenSQLite uses for the file at the
// absolute, slash-separated path.
// _txlock=immediate makes every read-write database/sql transaction take the
// write lock at BEGIN, so concurrent writers queue on busy_timeout instead of
// failing when one upgrades a read lock.
func SQLiteDSN(path string) string {
	q := url.Values{}
	for _, p := range sqlitePragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	// A file: URI with an escaped path lets any file name through; a plain
	// name would be cut at its first '?'.
	if !strings.HasPrefix(path, "/") {
		path = "/" + path // a Windows volume: file:///C:/...
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

// OpenSQLite opens (creating it if need be) the SQLite database at path with
// the settings of SQLiteDSN, creating its directory with mode 0700, and checks
// that the database can be used.
func OpenSQLite(ctx context.Context, path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database: sqlite path %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("database: create directory for %s: %w", abs, err)
	}
	db, err := sql.Open("sqlite", SQLiteDSN(filepath.ToSlash(abs)))
	if err != nil {
		return nil, fmt.Errorf("database: open sqlite %s: %w", abs, err)
	}
	// Ping opens a connection and so runs the pragmas: a database that cannot
	// switch to WAL or is not a database fails here, not at the first query.
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("database: open sqlite %s: %w", abs, err)
	}
	return db, nil
}

// ImmediateTx runs fn in a BEGIN IMMEDIATE transaction on one connection of
// db and commits it if fn returns nil. Taking SQLite's write lock at BEGIN
// (rather than at the first write, as a deferred transaction does) means a
// read-modify-write cannot be overtaken between its read and its write, and a
// second writer waits on busy_timeout instead of failing with SQLITE_BUSY. It
// works whatever the DSN's _txlock says.
//
// fn must use conn only, and must not commit or roll back itself.
func ImmediateTx(ctx context.Context, db *sql.DB, fn func(conn *sql.Conn) error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		// Roll back even when ctx is done: the connection goes back to the
		// pool and must not carry an open transaction. If that fails too
		// (SQLite may already have rolled back after an interrupt, or the
		// connection is broken), discard the connection.
		if _, rbErr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rbErr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if err := fn(conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	committed = true
	return nil
}

// SQLite has no time type: the stores keep times as INTEGER UTC
// microseconds since the epoch, which truncates as PostgreSQL's
// timestamptz does, so both backends return the same instants. A zero
// time (never, not yet) is NULL. The SQLite DB encodes time arguments with
// UnixMicro and decodes them with fromMicros.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
