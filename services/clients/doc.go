// Package clients is the client registry: OAuth clients, their secrets, the
// scope catalogue and API keys. It defines the Store it needs; the sqlstore package
// below implements it on SQLite and PostgreSQL and the conformance package
// tests it on both.
package clients
