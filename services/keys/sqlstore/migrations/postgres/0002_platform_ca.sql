-- The platform CA and the client certificates it issued (RFC 8705), for
-- PostgreSQL.
-- platform_ca holds one row at most: the id is fixed, so replicas creating
-- the CA together insert one and the others find it (INSERT ... ON
-- CONFLICT DO NOTHING, then read). private_key is the CA's PKCS #8 key
-- sealed with the KEK (AES-256-GCM, "gatehouse platform CA <serial>" as
-- additional data), never plaintext.
-- client_certificates: serial is lower-case hex as the revocation list
-- names certificates; thumbprint is the x5t#S256 (base64url SHA-256 of
-- der). Rows are never deleted: revocation is the revocation list's.
-- NEVER EDIT THIS FILE once landed: add 0003_... instead.

CREATE TABLE platform_ca (
    id          text        NOT NULL PRIMARY KEY CHECK (id = 'platform'),
    serial      text        NOT NULL,
    certificate bytea       NOT NULL,
    private_key bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    CHECK (serial <> '' AND length(certificate) > 0 AND length(private_key) > 0)
);

CREATE TABLE client_certificates (
    serial      text        NOT NULL PRIMARY KEY,
    client_id   text        NOT NULL,
    thumbprint  text        NOT NULL,
    not_before  timestamptz NOT NULL,
    not_after   timestamptz NOT NULL,
    der         bytea       NOT NULL,
    CHECK (serial <> '' AND client_id <> '' AND thumbprint <> '' AND length(der) > 0 AND not_before < not_after)
);

CREATE INDEX client_certificates_by_client ON client_certificates (client_id, not_before DESC, serial COLLATE "C");
