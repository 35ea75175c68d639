-- Authorization codes, refresh-token families and tokens, and login
-- sessions, for SQLite.
-- Times are INTEGER microseconds since the Unix epoch, UTC; the optional
-- ones (redeemed_at, revoked_at, rotated_at) are NULL until they happen.
-- Secrets are stored only as their SHA-256 (hash, 32 bytes).
-- Lists (scopes, resources) are JSON arrays of strings in TEXT.
-- NEVER EDIT THIS FILE once landed: add 0002_... instead.

-- family_id is chosen when the code is issued; the family row only exists
-- once the code is redeemed, so there is no foreign key.
CREATE TABLE grant_codes (
    hash         BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    client_id    TEXT    NOT NULL,
    redirect_uri TEXT    NOT NULL,
    challenge    TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    scopes       TEXT    NOT NULL CHECK (json_type(scopes) = 'array'),
    resources    TEXT    NOT NULL CHECK (json_type(resources) = 'array'),
    family_id    TEXT    NOT NULL,
    auth_time    INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    redeemed_at  INTEGER
) STRICT;

-- DeleteExpired.
CREATE INDEX grant_codes_expires_at ON grant_codes (expires_at);

CREATE TABLE grant_families (
    id            TEXT    NOT NULL PRIMARY KEY,
    client_id     TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    scopes        TEXT    NOT NULL CHECK (json_type(scopes) = 'array'),
    resources     TEXT    NOT NULL CHECK (json_type(resources) = 'array'),
    auth_time     INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    revoke_reason TEXT    NOT NULL DEFAULT ''
) STRICT;

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
    hash            BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    family_id       TEXT    NOT NULL REFERENCES grant_families (id) ON DELETE CASCADE,
    scopes          TEXT    NOT NULL CHECK (json_type(scopes) = 'array'),
    created_at      INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    rotated_at      INTEGER
) STRICT;

-- DeleteExpired by family, and the cascade.
CREATE INDEX grant_refresh_tokens_family_id ON grant_refresh_tokens (family_id);

CREATE TABLE grant_sessions (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    user_id    TEXT    NOT NULL,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

-- RevokeUserSessions looks only at live sessions.
CREATE INDEX grant_sessions_user_live ON grant_sessions (user_id) WHERE revoked_at IS NULL;
-- DeleteExpired.
CREATE INDEX grant_sessions_expires_at ON grant_sessions (expires_at);
