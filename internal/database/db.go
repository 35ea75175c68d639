package database

import (
	"context"
	"database/sql"
	"time"
)

// DB is a database of either kind as a store sees it: one store
// implementation, written once, runs on both. Statements are written in the
// dialect both drivers accept: $1, $2... placeholders (a number may repeat),
// ON CONFLICT, RETURNING, true and false; where the dialects differ, the
// store asks its Dialect for the fragment (row locks, list columns, sets of
// values, byte-order collation).
//
// Values cross the boundary in one Go representation whatever the driver:
//
//   - time.Time arguments are stored as timestamptz by PostgreSQL and as
//     INTEGER microseconds since the epoch by SQLite; a *time.Time
//     destination reads either back in UTC, to the microsecond, NULL as the
//     zero time. NullTime(t) stores the zero time as NULL.
//   - []string and []int64 arguments are arrays for PostgreSQL and JSON
//     arrays in TEXT for SQLite, nil stored as empty; a *[]string destination
//     reads either back, never as nil.
//   - booleans, integers, strings and []byte are passed through.
//
// Errors keep the driver's type; classify them with errors.Is(err,
// ErrNoRows), IsUniqueViolation, IsForeignKeyViolation and IsUnavailable.
type DB interface {
	Querier
	// Dialect says which SQL the database speaks.
	Dialect() Dialect
	// Tx runs fn in a read-write transaction and commits it when fn
	// returns nil; otherwise, or if fn panics, it rolls back. On
	// PostgreSQL the BEGIN goes to the server with the first statement,
	// and the statements queued with Tx.Defer with the COMMIT: a
	// transaction that reads one thing and then writes costs two round
	// trips. On SQLite it
	// holds the database's write lock from BEGIN (BEGIN IMMEDIATE), so
	// transactions run one after another; on PostgreSQL it runs at READ
	// COMMITTED, and a store serialises what it must with Dialect row
	// locks or Tx.Lock.
	Tx(ctx context.Context, fn func(Tx) error) error
	// ReadTx runs fn in a read-only transaction whose statements all read
	// one snapshot (REPEATABLE READ on PostgreSQL, a deferred transaction
	// on SQLite), and takes no write lock.
	ReadTx(ctx context.Context, fn func(Querier) error) error
}

// Tx is a transaction of DB.Tx.
type Tx interface {
	Querier
	// Lock takes the lock called name until the transaction ends, across
	// every process using the database: on PostgreSQL a transaction-scoped
	// advisory lock keyed by name and the current schema (so deployments
	// sharing a database in different schemas do not wait for each
	// other), on SQLite nothing, since the transaction already holds the
	// only write lock.
	Lock(ctx context.Context, name string) error
	// Defer queues a statement whose result the transaction does not
	// read, to run after fn returns nil and before the commit, in the
	// order queued: on PostgreSQL the queued statements go to the server
	// with the COMMIT, in one round trip. The first error among them is
	// what DB.Tx returns, and the transaction rolls back.
	Defer(query string, args ...any)
}

// Querier runs statements, on the database or in a transaction.
type Querier interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// Query runs a statement that returns rows; the caller closes them.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow runs a statement for its first row; errors, ErrNoRows
	// included, come from Scan.
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Row is one result row.
type Row interface {
	Scan(dest ...any) error
}

// Rows are the rows of a query. Close is safe to call more than once.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// ErrNoRows is what Row.Scan returns, wrapped, when there is no row: both
// drivers' own errors match it with errors.Is.
var ErrNoRows = sql.ErrNoRows

// NullTime is t as an argument for a column where NULL means "never": the
// zero time is stored as NULL. Read it back into a *time.Time, which turns
// NULL into the zero time.
func NullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// Stored is t as both databases keep it: UTC, truncated to the
// microsecond; the zero time stays zero. A store that returns a value it
// wrote, instead of reading it back, returns Stored of its times.
func Stored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Dialect is the SQL a database speaks. Its methods return the fragments
// that differ between the two; everything else is written once.
type Dialect int

// The dialects.
const (
	PostgreSQL Dialect = iota + 1
	SQLite
)

func (d Dialect) String() string {
	switch d {
	case PostgreSQL:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return "unknown"
}

// ForUpdate ends a SELECT that locks the rows it reads until the
// transaction ends. SQLite has no row locks: DB.Tx already holds the write
// lock, so the fragment is empty.
func (d Dialect) ForUpdate() string {
	if d == PostgreSQL {
		return " FOR UPDATE"
	}
	return ""
}

// LockInOrder ends a SELECT (typically the subquery of an UPDATE or DELETE
// of many rows) that locks the rows it reads in the order of col, so that
// two statements locking overlapping sets wait for each other instead of
// deadlocking. On SQLite it is empty: DB.Tx or the statement holds the
// write lock, and the ORDER BY would not be free there, for SQLite's
// planner may walk the primary key to produce it rather than use the index
// the WHERE clause could.
func (d Dialect) LockInOrder(col string) string {
	if d == PostgreSQL {
		return " ORDER BY " + col + " FOR UPDATE"
	}
	return ""
}

// ForNoKeyUpdate is ForUpdate with PostgreSQL's weaker row lock: it
// excludes other writers of the row but lets inserts that reference it by
// foreign key (which take KEY SHARE) proceed.
func (d Dialect) ForNoKeyUpdate() string {
	if d == PostgreSQL {
		return " FOR NO KEY UPDATE"
	}
	return ""
}

// SortedList is an expression whose value is the list of expr over the rows
// of from (a FROM ... WHERE ... clause), sorted by expr: a text[] on
// PostgreSQL, a JSON array on SQLite. Read it into a *[]string.
func (d Dialect) SortedList(expr, from string) string {
	if d == PostgreSQL {
		return "ARRAY(SELECT " + expr + " " + from + " ORDER BY " + expr + ")"
	}
	return "(SELECT json_group_array(" + expr + " ORDER BY " + expr + ") " + from + ")"
}

// In is a condition that expr is one of the values of param, a
// placeholder bound to a []int64 or []string.
func (d Dialect) In(expr, param string) string {
	if d == PostgreSQL {
		return expr + " = ANY(" + param + ")"
	}
	return expr + " IN (SELECT value FROM json_each(" + param + "))"
}

// IsFalse is a condition that the boolean column col is false, spelled as
// the schemas' partial indexes spell it (WHERE NOT col on PostgreSQL, WHERE
// col = 0 on SQLite): SQLite uses a partial index only for a query that
// repeats its condition, and scans the table for NOT col or col = false.
func (d Dialect) IsFalse(col string) string {
	if d == PostgreSQL {
		return "NOT " + col
	}
	return col + " = 0"
}

// Bytewise is expr compared byte by byte, for an ORDER BY on a text column
// that was not declared so: PostgreSQL would otherwise use the database's
// locale, SQLite always compares bytes.
func (d Dialect) Bytewise(expr string) string {
	if d == PostgreSQL {
		return expr + ` COLLATE "C"`
	}
	return expr
}
