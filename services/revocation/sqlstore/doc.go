// Package sqlstore implements revocation.Store once, for SQLite (single
// node) and PostgreSQL (replicated deployments), over database.DB. Open the
// database with database.OpenSQLite or database.OpenPostgres; New migrates
// the schema (on PostgreSQL in the first schema of the pool's search_path).
//
// The two schemas live in migrations/postgres and migrations/sqlite: the
// statements are shared, the DDL is not, because the column types differ
// (timestamptz and boolean against INTEGER microseconds and 0/1 in STRICT
// tables), the initial log_id is generated differently (from
// gen_random_uuid through SHA-256, from randomblob), and the files of
// earlier releases must stay as they were applied.
//
// Revoke takes the next sequence number from the one row of
// revocation_head, which it locks before it reads or writes (FOR UPDATE on
// PostgreSQL; on SQLite the transaction holds the single write lock from
// BEGIN IMMEDIATE): writers, on every replica or in every process sharing
// the file, run one after another, and a transaction holding seq n commits
// before the one that gets n+1 can start, so seqs become visible in order
// (a bigserial would let a larger seq commit first and a follower skip the
// smaller one). List reads the head and the entries in one snapshot
// (REPEATABLE READ on PostgreSQL, one WAL snapshot on SQLite).
package sqlstore
