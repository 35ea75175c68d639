// Package scalerun is `gatehouse bench scale`: for each size it fills a
// PostgreSQL database of its own with that many clients, API keys and
// revocations (and a tenth as many users), bulk-loaded with COPY in the
// rows the stores write, then starts the all-in-one server on it in this
// process and measures what should not depend on the size (token issuance
// for clients the cache has not seen, API-key verification, JWKS,
// introspection), what may (a new validator's revocation snapshot, start-up)
// and the database's size. Every load is bounded and goes to loopback
// addresses only.
package scalerun
