// Package keys is key management: the signing keys of access tokens, their
// lifecycle, encryption at rest and the JWKS. It defines the Store it
// needs; the sqlstore package below implements it on SQLite and PostgreSQL
// and the conformance package tests it on both.
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
//
// # Platform CA
//
// The Manager also runs the platform CA that issues client certificates
// to partners for mutual TLS (RFC 8705), when its Store implements
// CAStore. There is one CA per deployment: an ECDSA P-256 key and a
// self-signed certificate (CN "Gatehouse platform CA", CA with path length
// 0, key usage certSign and cRLSign, valid 10 years, random 128-bit
// serial). It is created on the first Start (or first use) and kept in one
// row with a fixed key, so replicas starting together on one database
// insert it once and all load the same one. Its private key is sealed
// like the signing keys, with "gatehouse platform CA <serial>" as the
// additional data.
//
// IssueClientCertificate signs a partner's PKCS #10 request (ParseCSR says
// which are refused: a bad signature, a weak key, any requested extension
// or alternative name). The CA decides everything but the public key:
//
//   - subject: CN = the client_id, O = "Gatehouse partner";
//   - one subject alternative name, the URI urn:gatehouse:client:<client_id>.
//     Client ids in certificates are limited to letters, digits and
//     "-._~", the URI's unreserved characters, so the client_id appears
//     verbatim and the URI identifies the client without decoding: a
//     relying party may register exactly this URI as the client's
//     tls_client_auth_san_uri, or match the prefix and read the client_id
//     after it;
//   - key usage digitalSignature, extended key usage clientAuth only;
//   - valid from one minute before issuance for at most 90 days (the
//     default), never beyond the CA;
//   - a random 128-bit serial, which the revocation list names in
//     lower-case hex (KIND_CERTIFICATE), and subject and authority key
//     identifiers.
//
// Every issued certificate is recorded (serial, client, x5t#S256
// thumbprint, validity, DER) and listed by ListClientCertificates.
// ServerCertificate issues the server's own TLS certificate from the same
// CA at each process start, unrecorded, so partners need one trust anchor,
// which GetPlatformCA serves publicly.
package keys
