package database

import (
	"errors"

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

func sqliteCode(err error) int {
	if e, ok := errors.AsType[*sqlitedriver.Error](err); ok {
		return e.Code()
	}
	return 0
}
