// Package sqlstore implements keys.Store and keys.CAStore once, for SQLite
// (single node) and PostgreSQL (replicated deployments), over database.DB.
// Open the database with database.OpenSQLite or database.OpenPostgres; New
// migrates the schema (on PostgreSQL in the first schema of the pool's
// search_path).
//
// The two schemas live in migrations/postgres and migrations/sqlite: the
// statements are shared, the DDL is not, because the column types differ
// (timestamptz and bytea against INTEGER microseconds and BLOB in STRICT
// tables, COLLATE "C" against SQLite's byte order) and the files of earlier
// releases must stay as they were applied.
//
// Update takes the keys lock (Tx.Lock) before reading the keys, so
// concurrent Updates, from goroutines, from processes sharing an SQLite
// file or from replicas, run one after another and each decides on what
// the previous one committed. On SQLite the transaction already holds the
// single write lock from BEGIN IMMEDIATE. On PostgreSQL it is a
// transaction-scoped advisory lock, and READ COMMITTED reads with a
// snapshot taken after it; its key is derived from the schema, so
// deployments that share a database in different schemas do not wait for
// each other, and COMMIT or ROLLBACK releases it, so a crashed replica
// cannot leave it held.
//
// The platform CA is one row with a fixed id, inserted with ON CONFLICT DO
// NOTHING, so processes or replicas creating it together keep the first and
// all read that one.
package sqlstore
