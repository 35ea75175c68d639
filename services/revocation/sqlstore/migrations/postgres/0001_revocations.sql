-- The revocation list for PostgreSQL.
-- kind is the number of gatehouse.revocation.v1.Kind (stable on the wire,
-- unlike its name); expires_at is NULL when the entry never expires.
-- NEVER EDIT THIS FILE once landed: add 0002_... instead.

-- One row: the sequence counter and the list's identity. Writers take the
-- next seq with UPDATE ... RETURNING inside their transaction; the row lock
-- holds every other writer until COMMIT, so seqs become visible in order
-- (a bigserial would not: concurrent transactions commit out of order).
-- seq is the head, which deleting expired entries never lowers.
CREATE TABLE revocation_head (
    id     smallint NOT NULL PRIMARY KEY CHECK (id = 1),
    seq    bigint   NOT NULL CHECK (seq >= 0),
    log_id text     NOT NULL CHECK (log_id ~ '^[0-9a-f]{32}$')
);

-- 128 bits taken from two version 4 UUIDs (244 random bits of
-- pg_strong_random) through SHA-256, with no extension needed.
INSERT INTO revocation_head (id, seq, log_id)
VALUES (1, 0, substr(encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'), 1, 32));

-- One row per (kind, id): a replaced cut-off entry moves to a new seq.
-- published is false until the Revoked event went out (the outbox).
CREATE TABLE revocations (
    seq        bigint      NOT NULL PRIMARY KEY,
    kind       integer     NOT NULL CHECK (kind > 0),
    id         text        NOT NULL,
    reason     text        NOT NULL,
    revoked_at timestamptz NOT NULL,
    expires_at timestamptz,
    published  boolean     NOT NULL DEFAULT false,
    UNIQUE (kind, id)
);

CREATE INDEX revocations_unpublished ON revocations (seq) WHERE NOT published;
CREATE INDEX revocations_expires_at ON revocations (expires_at) WHERE expires_at IS NOT NULL;
