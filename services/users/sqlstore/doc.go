// Package sqlstore implements users.Store once, for SQLite (single node)
// and PostgreSQL (replicated deployments), over database.DB. Open the
// database with database.OpenSQLite or database.OpenPostgres; New migrates
// the schema (on PostgreSQL in the first schema of the pool's search_path).
//
// The two schemas live in migrations/postgres and migrations/sqlite: the
// statements are shared, the DDL is not, because the column types differ
// (timestamptz and boolean against INTEGER microseconds and 0/1 in a STRICT
// table, COLLATE "C" against SQLite's byte order) and the files of earlier
// releases must stay as they were applied.
//
// Update is a read-modify-write in one transaction that starts by locking
// the user's row: SELECT ... FOR UPDATE on PostgreSQL; on SQLite the
// transaction takes the single write lock at BEGIN IMMEDIATE, before
// reading. Concurrent updates of one user, from goroutines, from processes
// sharing the SQLite file or from PostgreSQL replicas, run one after
// another and never lose each other's changes.
package sqlstore
