// Package clients is the client registry: OAuth clients, their secrets, the
// scope catalogue and API keys. It defines the Store it needs; the sqlite and
// postgres packages below implement it and the conformance package tests both.
package clients
