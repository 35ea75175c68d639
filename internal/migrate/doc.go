// Package migrate applies a component's embedded, numbered SQL migrations to
// its database at start-up.
//
// Each service owns its schema: it embeds files named NNNN_description.sql
// (0001_init.sql, 0002_add_index.sql, ...) in one directory per dialect and
// calls [Run] with its component name before serving. Applied versions are recorded per
// component in the schema_migrations table, so several components can share
// one database and restarts are no-ops.
//
// Rules for migration files:
//
//   - A migration is never edited, renamed or deleted once it has landed on
//     the main branch: databases in the field have already run it and will
//     not run it again, so an edit would silently fork their schema from a
//     fresh one. Fix a mistake with a new migration.
//   - Versions start at 1 and have no gaps; the runner refuses anything else,
//     so a number taken twice by two branches fails loudly instead of one of
//     them being skipped.
//   - Each file runs in its own transaction together with the row that
//     records it, so a failing migration leaves no trace and is retried on
//     the next start. Statements that cannot run inside a transaction (SQLite
//     VACUUM, PostgreSQL CREATE INDEX CONCURRENTLY) do not belong here.
//   - A binary refuses to start against a database that has a version of its
//     component newer than the newest file it embeds ([ErrDatabaseTooNew]):
//     it was rolled back past a schema change and cannot know whether it
//     still understands the schema.
//
// Concurrent starts are safe: on PostgreSQL every step holds a transaction
// advisory lock, on SQLite every step is a BEGIN IMMEDIATE transaction, and
// each step re-reads the current version after taking the lock, so a replica
// that loses the race finds the work done.
package migrate
