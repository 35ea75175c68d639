// Package database opens the two databases Gatehouse runs on: SQLite for a
// single node, PostgreSQL for replicated deployments. It owns the connection
// settings that every store relies on (WAL, busy timeout and foreign keys on
// every SQLite connection; a verified PostgreSQL pool) so that stores take an
// opened handle and never configure one themselves.
//
// Subpackage dbtest gives tests a fresh, isolated database of either kind.
package database
