// Package postgres implements grantstore.Store on PostgreSQL with pgx, for
// replicated deployments. Open the pool with database.OpenPostgres; New
// migrates the schema in the first schema of the pool's search_path.
//
// RedeemCode and RotateRefresh lock the rows they decide on (SELECT ... FOR
// UPDATE) before reading them: under READ COMMITTED a concurrent
// redemption or rotation waits for the lock and then reads the row as the
// winner committed it, so of concurrent uses of one code or token exactly
// one succeeds, on any replica.
//
// Transactions that lock several rows take them in one order, so they wait
// for each other instead of deadlocking: a refresh token before its family
// (RotateRefresh, DeleteExpired), and families in id order (the bulk
// revocations, DeleteExpired).
package postgres
