// Package revocation is the revocation list: the source of truth that every
// validator follows. It defines the Store it needs (the sqlstore package
// below implements it on SQLite and PostgreSQL, and the conformance package
// tests it on both), the gRPC RevocationService, and the outbox that
// announces entries on NATS.
//
// # Sequence numbers
//
// Every entry carries a sequence number that the store assigns. Followers
// page through the list with List(since = the last seq they hold), so a
// sequence number must never become visible after a larger one already was:
// the stores take it from a one-row counter inside the writing transaction,
// whose row lock makes commit order equal sequence order. The list is
// identified by a log id created with the schema; sequence numbers only
// compare within one log id.
//
// # Events
//
// NATS is the fast path, never the only path. Right after a Revoke commits
// the service publishes a Revoked event on JetStream (stream
// GATEHOUSE_REVOCATION, message id "<log id>:<seq>", so replicas and retries
// are deduplicated) and marks the entry published. Entries that could not be
// published stay in the store's outbox and are retried every outbox interval
// and whenever the NATS connection comes back. Followers that still miss an
// event re-sync through List.
package revocation
