// Package sqlite implements users.Store on SQLite, for single-node
// deployments. Open the database with database.OpenSQLite.
//
// Update runs in a BEGIN IMMEDIATE transaction (database.ImmediateTx): it
// takes SQLite's single write lock before reading, so read-modify-writes,
// from goroutines or from processes sharing the file, run one after another
// and never lose each other's changes.
package sqlite
