package database

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLSTATE codes of PostgreSQL constraint violations.
const (
	pgForeignKeyViolation = "23503"
	pgUniqueViolation     = "23505"
)

// IsUniqueViolation reports whether err is a primary-key or unique
// constraint violation from PostgreSQL or SQLite, so every store
// translates it to its ErrAlreadyExists the same way.
func IsUniqueViolation(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code == pgUniqueViolation
	}
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// IsForeignKeyViolation reports whether err is a foreign-key violation
// from PostgreSQL or SQLite.
func IsForeignKeyViolation(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code == pgForeignKeyViolation
	}
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// IsUnavailable reports whether err means the database could not be
// reached or went away mid-request: no connection, a connection dropped or
// reset, or a server shutting down or refusing connections. Such a failure
// says nothing about the request, and the same request may succeed once
// the database is back, so the services answer it with Unavailable (503)
// rather than as an internal error (500).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller's own cancellation or deadline (which net.Error
		// would match): the callers map those themselves.
		return false
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		// Class 08 is connection exceptions; 57P01-57P03 a shutdown or a
		// server not accepting connections yet; 53300 too many
		// connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" ||
			pgErr.Code == "57P03" || pgErr.Code == "53300"
	}
	// pgx marks what failed before the request reached the server (a
	// closed connection taken from the pool) as safe to retry.
	if pgconn.SafeToRetry(err) {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

func sqliteCode(err error) int {
	if e, ok := errors.AsType[*sqlitedriver.Error](err); ok {
		return e.Code()
	}
	return 0
}
