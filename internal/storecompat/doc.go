// Package storecompat holds databases that an earlier release of Gatehouse
// wrote, and tests that the current stores read them as that release did
// and keep working on them. A store change that reads a column differently,
// or a migration that stops matching what is deployed, fails here.
//
// testdata/<commit>/ holds, for the commit that wrote them, a SQLite
// database file, a PostgreSQL dump (pg_dump --inserts of the stores'
// schema, schema names stripped), and snapshot.json: what that release's
// stores returned for a fixed set of reads. The reads are the same for
// every release, so the current stores must return the same JSON.
//
// To record the databases of the current code (only when the storage
// format is meant to change and a new baseline is needed):
//
//	GATEHOUSE_STORECOMPAT_WRITE=testdata/<commit> go test -run TestWriteFixtures ./internal/storecompat/
package storecompat
