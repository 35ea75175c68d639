// Package sqlstore implements grantstore.Store once, for SQLite (single
// node) and PostgreSQL (replicated deployments), over database.DB. Open the
// database with database.OpenSQLite or database.OpenPostgres; New migrates
// the schema (on PostgreSQL in the first schema of the pool's search_path).
//
// The two schemas live in migrations/postgres and migrations/sqlite: the
// statements are shared, the DDL is not, because the column types differ
// (bytea and timestamptz against BLOB and INTEGER microseconds in STRICT
// tables; the lists are JSON text in both) and the files of earlier
// releases must stay as they were applied.
//
// Every read-decide-write (RedeemCode, RotateRefresh, CreateFamily,
// DeleteExpired) runs in one DB.Tx transaction; single-statement writes are
// atomic on their own. RedeemCode and RotateRefresh lock the rows they
// decide on before reading them. On PostgreSQL that is SELECT ... FOR
// UPDATE: under READ COMMITTED a concurrent redemption or rotation waits for
// the lock and then reads the row as the winner committed it. A rotation
// that goes through is, on PostgreSQL, one UPDATE ... RETURNING whose
// conditions are those of the decision, with the next token's INSERT in the
// same statement: the token's row lock serialises it the same way, and a
// refusal falls back to the locking transaction to say why. On SQLite the
// transaction takes the database's single write lock at BEGIN IMMEDIATE, so
// of two redemptions of one code, from goroutines or from processes sharing
// the file, the second reads what the first wrote. Either way, of
// concurrent uses of one code or token exactly one succeeds, on any replica.
//
// Transactions that lock several rows take them in one order, so they wait
// for each other instead of deadlocking: a refresh token before its family
// (RotateRefresh, DeleteExpired), and families in id order (the bulk
// revocations, DeleteExpired).
package sqlstore
