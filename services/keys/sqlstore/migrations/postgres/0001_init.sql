-- Signing keys for PostgreSQL.
-- private_key is the PKCS #8 key sealed with the KEK (AES-256-GCM, the kid
-- as additional data), never plaintext; it is NULL once the key is removed,
-- and only then (the CHECK below).
-- public_jwk is text, not jsonb, so it comes back byte for byte.
-- version is the store version of the row's last change; MAX(version) is
-- the JWKS version. Rows are never deleted, so it never goes back.
-- NEVER EDIT THIS FILE once landed: add 0002_... instead.

CREATE TABLE signing_keys (
    kid         text        NOT NULL PRIMARY KEY,
    alg         text        NOT NULL CHECK (alg IN ('ES256', 'EdDSA', 'RS256', 'PS256')),
    state       text        NOT NULL CHECK (state IN ('pending', 'active', 'retired', 'removed')),
    public_jwk  text        NOT NULL,
    private_key bytea,
    created_at  timestamptz NOT NULL,
    activate_at timestamptz,
    retired_at  timestamptz,
    remove_at   timestamptz,
    version     bigint      NOT NULL,
    CHECK ((state = 'removed') = (private_key IS NULL))
);

-- At most one active key, whatever the code above the store does.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';
