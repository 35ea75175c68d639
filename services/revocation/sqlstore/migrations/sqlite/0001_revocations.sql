-- The revocation list for SQLite.
-- Times are INTEGER microseconds since the Unix epoch, UTC; expires_at is
-- NULL when the entry never expires.
-- kind is the number of gatehouse.revocation.v1.Kind (stable on the wire,
-- unlike its name).
-- NEVER EDIT THIS FILE once landed: add 0002_... instead.

-- One row: the sequence counter and the list's identity. Writers take the
-- next seq from here inside their transaction, so seqs commit in order;
-- seq is the head, which deleting expired entries never lowers.
CREATE TABLE revocation_head (
    id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq    INTEGER NOT NULL CHECK (seq >= 0),
    log_id TEXT    NOT NULL CHECK (length(log_id) = 32)
) STRICT;

-- 128 bits from SQLite's CSPRNG, seeded by the operating system.
INSERT INTO revocation_head (id, seq, log_id) VALUES (1, 0, lower(hex(randomblob(16))));

-- One row per (kind, id): a replaced cut-off entry moves to a new seq.
-- published is 0 until the Revoked event went out (the outbox).
CREATE TABLE revocations (
    seq        INTEGER NOT NULL PRIMARY KEY,
    kind       INTEGER NOT NULL CHECK (kind > 0),
    id         TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    revoked_at INTEGER NOT NULL,
    expires_at INTEGER,
    published  INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
    UNIQUE (kind, id)
) STRICT;

CREATE INDEX revocations_unpublished ON revocations (seq) WHERE published = 0;
CREATE INDEX revocations_expires_at ON revocations (expires_at) WHERE expires_at IS NOT NULL;
