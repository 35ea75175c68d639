// Package grantstore is the storage of the token service's user grants:
// authorization codes, refresh-token families with their tokens, and
// browser login sessions. Store is the contract; subpackage sqlstore
// implements it on SQLite and PostgreSQL and subpackage conformance holds
// both to it.
//
// Every secret (code, refresh token, session cookie) is stored only as its
// SHA-256, so a copy of the database gives nobody a usable credential. The
// store never sees the secrets themselves: callers hash before every call.
//
// The methods that guard single use (RedeemCode, RotateRefresh) read, decide
// and write atomically (one transaction, or one statement) and serialise
// with every other writer of the same row, on one node or across replicas:
// replay detection is only as good as that atomicity.
package grantstore
