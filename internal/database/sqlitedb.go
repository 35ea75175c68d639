package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// SQLiteDB is a DB on an SQLite database opened with OpenSQLite.
type SQLiteDB struct {
	sqliteQuerier
	db *sql.DB
}

var _ DB = (*SQLiteDB)(nil)

// NewSQLite returns the DB of an SQLite database opened with OpenSQLite.
func NewSQLite(db *sql.DB) *SQLiteDB {
	return &SQLiteDB{sqliteQuerier: sqliteQuerier{q: db}, db: db}
}

// Handle is the database/sql handle, for what is not a store's business
// (migrations, backups).
func (d *SQLiteDB) Handle() *sql.DB { return d.db }

// Dialect implements DB.
func (d *SQLiteDB) Dialect() Dialect { return SQLite }

// Tx implements DB with ImmediateTx.
func (d *SQLiteDB) Tx(ctx context.Context, fn func(Tx) error) error {
	return ImmediateTx(ctx, d.db, func(conn *sql.Conn) error {
		t := &sqliteTx{sqliteQuerier: sqliteQuerier{q: conn}}
		if err := fn(t); err != nil {
			return err
		}
		for _, q := range t.deferred {
			if _, err := t.Exec(ctx, q.query, q.args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReadTx implements DB. A read-only transaction is a plain (deferred) BEGIN
// whatever the DSN's _txlock says: its first SELECT fixes the WAL snapshot
// that the later ones read too, and it takes no write lock. SQLite does not
// refuse writes in it by itself; query_only, set on the connection for the
// transaction, does, as PostgreSQL's READ ONLY does.
func (d *SQLiteDB) ReadTx(ctx context.Context, fn func(Querier) error) (err error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA query_only = 1"); err != nil {
		return err
	}
	defer func() {
		// The connection goes back to the pool: it must not stay read
		// only. If it cannot be reset, it is discarded.
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA query_only = 0"); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read only: nothing to undo
	if err := fn(sqliteQuerier{q: tx}); err != nil {
		return err
	}
	return tx.Commit()
}

type sqliteTx struct {
	sqliteQuerier
	deferred []queued
}

// queued is a statement of Tx.Defer.
type queued struct {
	query string
	args  []any
}

// Lock implements Tx: the transaction already holds SQLite's one write
// lock, taken at BEGIN IMMEDIATE.
func (*sqliteTx) Lock(context.Context, string) error { return nil }

// Defer implements Tx. There is no round trip to save in process; the
// statements still run last, as on PostgreSQL, so a store sees one order.
func (t *sqliteTx) Defer(query string, args ...any) {
	t.deferred = append(t.deferred, queued{query, args})
}

// sqlQuerier is what *sql.DB, *sql.Conn and *sql.Tx offer.
type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type sqliteQuerier struct{ q sqlQuerier }

func (s sqliteQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	args, err := sqliteArgs(args)
	if err != nil {
		return 0, err
	}
	res, err := s.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sqliteQuerier) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	args, err := sqliteArgs(args)
	if err != nil {
		return nil, err
	}
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqliteRows{rows}, nil
}

func (s sqliteQuerier) QueryRow(ctx context.Context, query string, args ...any) Row {
	args, err := sqliteArgs(args)
	if err != nil {
		return errRow{err}
	}
	return sqliteRow{s.q.QueryRowContext(ctx, query, args...)}
}

type sqliteRow struct{ row *sql.Row }

func (r sqliteRow) Scan(dest ...any) error { return r.row.Scan(sqliteDest(dest)...) }

type sqliteRows struct{ rows *sql.Rows }

func (r sqliteRows) Next() bool             { return r.rows.Next() }
func (r sqliteRows) Scan(dest ...any) error { return r.rows.Scan(sqliteDest(dest)...) }
func (r sqliteRows) Err() error             { return r.rows.Err() }
func (r sqliteRows) Close()                 { _ = r.rows.Close() }

// errRow is a Row whose statement could not be sent.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// sqliteArgs encodes times and lists as the SQLite schemas keep them,
// copying args only when one needs it.
func sqliteArgs(args []any) ([]any, error) {
	var out []any
	for i, a := range args {
		var v any
		switch a := a.(type) {
		case time.Time:
			v = a.UnixMicro()
		case []string:
			s, err := jsonArray(a)
			if err != nil {
				return nil, err
			}
			v = s
		case []int64:
			s, err := jsonArray(a)
			if err != nil {
				return nil, err
			}
			v = s
		default:
			if out != nil {
				out[i] = a
			}
			continue
		}
		if out == nil {
			out = make([]any, len(args))
			copy(out, args[:i])
		}
		out[i] = v
	}
	if out == nil {
		return args, nil
	}
	return out, nil
}

// jsonArray is v as a JSON array, "[]" for nil.
func jsonArray[T any](v []T) (string, error) {
	if v == nil {
		return "[]", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// sqliteDest wraps the destinations that need decoding; database/sql calls
// their Scan with the column's value.
func sqliteDest(dest []any) []any {
	var out []any
	for i, d := range dest {
		var w any
		switch d := d.(type) {
		case *time.Time:
			w = sqliteTime{d}
		case *[]string:
			w = sqliteList{d}
		default:
			if out != nil {
				out[i] = d
			}
			continue
		}
		if out == nil {
			out = make([]any, len(dest))
			copy(out, dest[:i])
		}
		out[i] = w
	}
	if out == nil {
		return dest
	}
	return out
}

// sqliteTime reads INTEGER microseconds since the epoch, NULL as the zero
// time.
type sqliteTime struct{ t *time.Time }

func (s sqliteTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.t = time.Time{}
	case int64:
		*s.t = fromMicros(v)
	default:
		return fmt.Errorf("database: a time column holds %T, want INTEGER microseconds", src)
	}
	return nil
}

// sqliteList reads a JSON array of strings, NULL as an empty list.
type sqliteList struct{ l *[]string }

func (s sqliteList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*s.l = []string{}
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("database: a list column holds %T, want a JSON array", src)
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("database: corrupt list %q: %w", b, err)
	}
	if l == nil {
		l = []string{}
	}
	*s.l = l
	return nil
}
