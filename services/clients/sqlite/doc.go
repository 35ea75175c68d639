// Package sqlite implements clients.Store on SQLite, for single-node
// deployments. Open the database with database.OpenSQLite: the store relies
// on its foreign keys (cascades and the scope catalogue are enforced by the
// schema) and busy timeout.
//
// Every multi-statement operation runs in a BEGIN IMMEDIATE transaction
// (database.ImmediateTx), so writers queue for SQLite's single write lock at
// BEGIN and a read-modify-write such as UpdateClient can never be overtaken
// between its read and its write.
package sqlite
