// Package keys is key management: the signing keys of access tokens, their
// lifecycle, encryption at rest and the JWKS. It defines the Store it
// needs; the sqlite and postgres packages below implement it and the
// conformance package tests both.
//
// # Lifecycle
//
// A key is pending, active, retired, then removed. A new key is published
// in the JWKS while pending for the publish lead (at least the JWKS
// max-age), so every validator knows it before any token uses it. It then
// becomes the one active key and the previous one retires: it signs no
// more but stays published for the retire period, until every token it
// signed has expired; then it is removed from the JWKS and its private key
// deleted. Rotation is automatic (every 30 days by default), manual
// (Manager.Rotate), or an emergency (Manager.EmergencyRotate), which drops
// a compromised key from the JWKS and activates a new key at once. On an
// empty store the first key is activated at once: there is nothing to
// protect yet.
//
// Every decision is made inside Store.Update, under a lock shared by all
// replicas, on the keys read under that lock; so any number of processes
// may start, tick and rotate at once and still make each transition once
// and keep one active key.
//
// # Secrets
//
// Private keys are stored as PKCS #8 sealed with AES-256-GCM under the
// key-encryption key (internal/kek), with the kid as additional data, so a
// ciphertext moved to another row does not open. A Manager given the wrong
// KEK fails to start with ErrWrongKEK. The decrypted active key lives in
// memory only, behind an atomic pointer that SigningKey reads; the JWKS
// bytes and ETag are prepared once per change, so neither the token
// service's hot path nor the JWKS endpoint decrypts, encodes or queries.
package keys
