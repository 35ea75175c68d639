-- User directory schema for PostgreSQL.
-- Identifiers use COLLATE "C" so that ordering (the ListUsers cursor) and
-- uniqueness are byte order, as in SQLite, whatever the database's locale.
-- email is normalized by the service (trimmed, lower-cased) and unique byte
-- for byte. password_hash is the argon2id PHC string, never a password.
-- NEVER EDIT THIS FILE once landed: add 0002_... instead.

CREATE TABLE users (
    user_id       text COLLATE "C" PRIMARY KEY,
    email         text COLLATE "C" NOT NULL UNIQUE CHECK (email <> ''),
    password_hash text        NOT NULL,
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- ListUsers pages in this order.
CREATE INDEX users_created_at_user_id ON users (created_at, user_id);
