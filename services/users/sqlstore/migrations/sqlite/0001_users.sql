-- User directory schema for SQLite.
-- Times are INTEGER microseconds since the Unix epoch, UTC: they sort and
-- compare as numbers, which the (created_at, user_id) cursor relies on.
-- email is normalized by the service (trimmed, lower-cased) and unique byte
-- for byte. password_hash is the argon2id PHC string, never a password.
-- NEVER EDIT THIS FILE once landed: add 0002_... instead.

CREATE TABLE users (
    user_id       TEXT    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE CHECK (email <> ''),
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- ListUsers pages in this order.
CREATE INDEX users_created_at_user_id ON users (created_at, user_id);
