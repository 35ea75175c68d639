// Package sqlite implements keys.Store on SQLite, for single-node
// deployments. Open the database with database.OpenSQLite.
//
// Update runs in a BEGIN IMMEDIATE transaction (database.ImmediateTx): it
// takes SQLite's single write lock before reading the keys, so concurrent
// Updates, from goroutines or from processes sharing the file, run one
// after another and each decides on what the previous one committed.
//
// It implements keys.CAStore too: the platform CA is one row with a fixed
// id, inserted with ON CONFLICT DO NOTHING, so processes creating it
// together on one file keep the first and all read that one.
package sqlite
