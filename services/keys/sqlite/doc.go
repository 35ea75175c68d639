// Package sqlite implements keys.Store on SQLite, for single-node
// deployments. Open the database with database.OpenSQLite.
//
// Update runs in a BEGIN IMMEDIATE transaction (database.ImmediateTx): it
// takes SQLite's single write lock before reading the keys, so concurrent
// Updates, from goroutines or from processes sharing the file, run one
// after another and each decides on what the previous one committed.
package sqlite
