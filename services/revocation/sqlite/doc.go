// Package sqlite implements revocation.Store on SQLite, for single-node
// deployments. Open the database with database.OpenSQLite.
//
// Revoke runs in a BEGIN IMMEDIATE transaction (database.ImmediateTx): it
// takes SQLite's single write lock before reading, so writers, from
// goroutines or from processes sharing the file, run one after another and
// commit their sequence numbers in order. List reads the head and the
// entries in one read transaction, that is one WAL snapshot.
package sqlite
