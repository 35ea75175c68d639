// Package postgres implements revocation.Store on PostgreSQL with pgx, for
// replicated deployments. Open the pool with database.OpenPostgres; New
// migrates the schema in the first schema of the pool's search_path.
//
// Revoke locks the one row of revocation_head before it reads or writes,
// and takes the next sequence number from it: writers on every replica run
// one after another and a transaction holding seq n commits before the one
// that gets n+1 can start, so seqs become visible in order (a bigserial
// would let a larger seq commit first and a follower skip the smaller one).
// List reads the head and the entries in one REPEATABLE READ snapshot.
package postgres
