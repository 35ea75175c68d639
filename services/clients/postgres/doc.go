// Package postgres implements clients.Store on PostgreSQL with pgx, for
// replicated deployments. Open the pool with database.OpenPostgres; New
// migrates the schema in the first schema of the pool's search_path.
//
// Read-modify-write operations lock the row they start from (SELECT ... FOR
// NO KEY UPDATE) inside a transaction and read everything else afterwards,
// so a concurrent writer's committed changes are seen rather than
// overwritten. The database enforces the scope catalogue and cascades with
// foreign keys; the store translates their violations into the clients
// sentinel errors.
package postgres
