// Package kek holds the key-encryption key (KEK) that protects private keys
// at rest: the key service seals every private signing key with it before
// the key reaches the database, so a copy of the database alone reveals no
// private key.
//
// Load finds the KEK in this order: a file (--kek-file: 32 raw bytes, or
// base64 text of 32 bytes), the GATEHOUSE_KEK environment variable (base64
// of 32 bytes), or, when neither is given, the file "kek" in the data
// directory, created with 32 random bytes and mode 0600 on first use. That
// default keeps the KEK next to the database it protects, so it only guards
// against a leaked database dump; production should supply its own KEK from
// a secret store, and callers log a warning when [KEK.IsDefault] is true.
//
// Sealing is AES-256-GCM with a random 96-bit nonce and caller-chosen
// additional data, which binds a ciphertext to its row: the key service uses
// the key's kid, so a ciphertext copied onto another key's row fails to
// open.
package kek
