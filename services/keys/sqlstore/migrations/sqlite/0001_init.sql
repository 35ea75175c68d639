-- Signing keys for SQLite.
-- Times are INTEGER microseconds since the Unix epoch, UTC; NULL when unset.
-- private_key is the PKCS #8 key sealed with the KEK (AES-256-GCM, the kid
-- as additional data), never plaintext; it is NULL once the key is removed,
-- and only then (the CHECK below).
-- version is the store version of the row's last change; MAX(version) is
-- the JWKS version. Rows are never deleted, so it never goes back.
-- NEVER EDIT THIS FILE once landed: add 0002_... instead.

CREATE TABLE signing_keys (
    kid         TEXT    NOT NULL PRIMARY KEY,
    alg         TEXT    NOT NULL CHECK (alg IN ('ES256', 'EdDSA', 'RS256', 'PS256')),
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'retired', 'removed')),
    public_jwk  TEXT    NOT NULL,
    private_key BLOB,
    created_at  INTEGER NOT NULL,
    activate_at INTEGER,
    retired_at  INTEGER,
    remove_at   INTEGER,
    version     INTEGER NOT NULL,
    CHECK ((state = 'removed') = (private_key IS NULL))
) STRICT;

-- At most one active key, whatever the code above the store does.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';
