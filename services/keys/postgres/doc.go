// Package postgres implements keys.Store on PostgreSQL with pgx, for
// replicated deployments. Open the pool with database.OpenPostgres; New
// migrates the schema in the first schema of the pool's search_path.
//
// Update takes a transaction-scoped advisory lock before reading the keys,
// so replicas run their Updates one after another and each decides on what
// the previous one committed (READ COMMITTED reads with a snapshot taken
// after the lock). The lock key is derived from the schema, so deployments
// that share a database in different schemas do not wait for each other;
// COMMIT or ROLLBACK releases it, so a crashed replica cannot leave it
// held.
//
// It implements keys.CAStore too: the platform CA is one row with a fixed
// id, inserted with ON CONFLICT DO NOTHING, so replicas creating it together
// keep the first and all read that one.
package postgres
