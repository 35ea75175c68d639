// Package sqlite implements grantstore.Store on SQLite, for single-node
// deployments. Open the database with database.OpenSQLite.
//
// Every read-decide-write (RedeemCode, RotateRefresh, CreateFamily,
// DeleteExpired) runs in a BEGIN IMMEDIATE transaction
// (database.ImmediateTx): it takes SQLite's single write lock before
// reading, so of two redemptions of one code, from goroutines or from
// processes sharing the file, the second reads what the first wrote.
// Single-statement writes are atomic on their own.
package sqlite
