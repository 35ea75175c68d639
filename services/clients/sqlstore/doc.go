// Package sqlstore implements clients.Store once, for SQLite (single node)
// and PostgreSQL (replicated deployments), over database.DB. Open the
// database with database.OpenSQLite or database.OpenPostgres; New migrates
// the schema (on PostgreSQL in the first schema of the pool's search_path).
//
// The two schemas live in migrations/postgres and migrations/sqlite: the
// statements are shared, the DDL is not, because the column types differ
// (timestamptz and text[] against INTEGER microseconds and JSON arrays in
// STRICT tables, COLLATE "C" against SQLite's byte order) and the files of
// earlier releases must stay as they were applied.
//
// Read-modify-write operations run in one transaction that starts by locking
// the row they begin from (FOR NO KEY UPDATE on PostgreSQL; on SQLite the
// transaction holds the write lock from BEGIN) and read everything else
// afterwards, so a concurrent writer's committed changes are seen rather
// than overwritten. The database enforces the scope catalogue and cascades
// with foreign keys; the store translates their violations into the clients
// sentinel errors.
package sqlstore
