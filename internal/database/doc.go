// Package database opens the two databases Gatehouse runs on: SQLite for a
// single node, PostgreSQL for replicated deployments. It owns the connection
// settings that every store relies on (WAL, busy timeout and foreign keys on
// every SQLite connection; a verified PostgreSQL pool) so that stores take an
// opened handle and never configure one themselves.
//
// It is also the only place where the two differ for a store. DB is the
// interface both satisfy (NewSQLite over database/sql and modernc, NewPostgres
// over pgx natively); each service writes its store once against it. The
// differences (placeholders, time and list encoding, row and advisory locks,
// snapshot transactions, error classification, the few SQL fragments of
// Dialect) are here, each with a test that runs on both drivers.
//
// Subpackage dbtest gives tests a fresh, isolated database of either kind.
package database
