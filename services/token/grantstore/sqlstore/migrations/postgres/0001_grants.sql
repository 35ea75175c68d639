-- Authorization codes, refresh-token families and tokens, and login
-- sessions, for PostgreSQL.
-- The optional times (redeemed_at, revoked_at, rotated_at) are NULL until
-- they happen. Secrets are stored only as their SHA-256 (hash, 32 bytes).
-- Lists (scopes, resources) are JSON arrays of strings in text, as in the
-- SQLite schema, so both backends hold the same values.
-- NEVER EDIT THIS FILE once landed: add 0002_... instead.

-- family_id is chosen when the code is issued; the family row only exists
-- once the code is redeemed, so there is no foreign key.
CREATE TABLE grant_codes (
    hash         bytea       NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
    client_id    text        NOT NULL,
    redirect_uri text        NOT NULL,
    challenge    text        NOT NULL,
    user_id      text        NOT NULL,
    scopes       text        NOT NULL CHECK (jsonb_typeof(scopes::jsonb) = 'array'),
    resources    text        NOT NULL CHECK (jsonb_typeof(resources::jsonb) = 'array'),
    family_id    text        NOT NULL,
    auth_time    timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    redeemed_at  timestamptz
);

-- DeleteExpired.
CREATE INDEX grant_codes_expires_at ON grant_codes (expires_at);

CREATE TABLE grant_families (
    id            text        NOT NULL PRIMARY KEY,
    client_id     text        NOT NULL,
    user_id       text        NOT NULL,
    scopes        text        NOT NULL CHECK (jsonb_typeof(scopes::jsonb) = 'array'),
    resources     text        NOT NULL CHECK (jsonb_typeof(resources::jsonb) = 'array'),
    auth_time     timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text        NOT NULL DEFAULT ''
);

-- RevokeUserFamilies and RevokeClientFamilies look only at live families,
-- issued at or before a time.
CREATE INDEX grant_families_user_live ON grant_families (user_id, created_at) WHERE revoked_at IS NULL;
CREATE INDEX grant_families_client_live ON grant_families (client_id, created_at) WHERE revoked_at IS NULL;
-- DeleteExpired.
CREATE INDEX grant_families_expires_at ON grant_families (expires_at);

-- A rotated-out token (rotated_at set) stays as long as its family, so that
-- presenting it again is recognised as reuse. The cascade is a safety net:
-- DeleteExpired deletes the tokens itself, to count them.
CREATE TABLE grant_refresh_tokens (
    hash            bytea       NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
    family_id       text        NOT NULL REFERENCES grant_families (id) ON DELETE CASCADE,
    scopes          text        NOT NULL CHECK (jsonb_typeof(scopes::jsonb) = 'array'),
    created_at      timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    rotated_at      timestamptz
);

-- DeleteExpired by family, and the cascade (PostgreSQL does not index a
-- referencing column by itself).
CREATE INDEX grant_refresh_tokens_family_id ON grant_refresh_tokens (family_id);

CREATE TABLE grant_sessions (
    hash       bytea       NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
    user_id    text        NOT NULL,
    auth_time  timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);

-- RevokeUserSessions looks only at live sessions.
CREATE INDEX grant_sessions_user_live ON grant_sessions (user_id) WHERE revoked_at IS NULL;
-- DeleteExpired.
CREATE INDEX grant_sessions_expires_at ON grant_sessions (expires_at);
