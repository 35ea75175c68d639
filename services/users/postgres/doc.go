// Package postgres implements users.Store on PostgreSQL with pgx, for
// replicated deployments. Open the pool with database.OpenPostgres; New
// migrates the schema in the first schema of the pool's search_path.
//
// Update reads the row with SELECT ... FOR UPDATE in its transaction, so
// concurrent read-modify-writes of one user, on any replica, run one after
// another and never lose each other's changes.
package postgres
