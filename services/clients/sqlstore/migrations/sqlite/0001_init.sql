-- Client registry schema for SQLite.
-- Times are INTEGER microseconds since the Unix epoch, UTC: they sort and
-- compare as numbers, which the (created_at, client_id) cursor relies on.
-- Lists of strings are JSON arrays in TEXT. Booleans are 0/1.
-- NEVER EDIT THIS FILE once landed: add 0002_... instead.

CREATE TABLE scopes (
    name        TEXT    NOT NULL PRIMARY KEY,
    description TEXT    NOT NULL DEFAULT '',
    system      INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE clients (
    client_id                TEXT    NOT NULL PRIMARY KEY,
    name                     TEXT    NOT NULL,
    type                     TEXT    NOT NULL,
    public                   INTEGER NOT NULL,
    auth_method              TEXT    NOT NULL,
    redirect_uris            TEXT    NOT NULL DEFAULT '[]',
    grant_types              TEXT    NOT NULL DEFAULT '[]',
    tls_subject_dn           TEXT    NOT NULL DEFAULT '',
    tls_san_dns              TEXT    NOT NULL DEFAULT '',
    tls_san_uri              TEXT    NOT NULL DEFAULT '',
    tls_san_ip               TEXT    NOT NULL DEFAULT '',
    tls_san_email            TEXT    NOT NULL DEFAULT '',
    tls_cert_thumbprints     TEXT    NOT NULL DEFAULT '[]',
    bound_access_tokens      INTEGER NOT NULL DEFAULT 0,
    access_token_lifetime_ms INTEGER NOT NULL,
    rate_limit_tier          TEXT    NOT NULL DEFAULT '',
    disabled                 INTEGER NOT NULL DEFAULT 0,
    require_consent          INTEGER NOT NULL DEFAULT 0,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
) STRICT;

-- ListClients pages in this order.
CREATE INDEX clients_created_at_client_id ON clients (created_at, client_id);

-- The foreign key to scopes is what keeps uncatalogued scopes out and a
-- granted scope from being deleted. NO ACTION rather than RESTRICT: for an
-- immediate constraint they refuse the same deletes, but SQLite implements
-- RESTRICT as a trigger and reports SQLITE_CONSTRAINT_TRIGGER, while NO ACTION
-- reports SQLITE_CONSTRAINT_FOREIGNKEY, which the store maps to ErrInUse.
CREATE TABLE client_scopes (
    client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope     TEXT NOT NULL REFERENCES scopes (name) ON DELETE NO ACTION,
    PRIMARY KEY (client_id, scope)
) STRICT;

-- Without it, every scope deletion scans client_scopes.
CREATE INDEX client_scopes_scope ON client_scopes (scope);

-- created_at identifies a secret within its client.
CREATE TABLE client_secrets (
    client_id  TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    hash       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (client_id, created_at)
) STRICT;

CREATE TABLE api_keys (
    key_id       TEXT    NOT NULL PRIMARY KEY,
    client_id    TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    secret_hash  BLOB    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    expires_at   INTEGER,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked      INTEGER NOT NULL DEFAULT 0,
    revoked_at   INTEGER,
    replaced_by  TEXT    NOT NULL DEFAULT ''
) STRICT;

-- ListAPIKeys, and the cascade from clients.
CREATE INDEX api_keys_client_id_created_at ON api_keys (client_id, created_at);

CREATE TABLE api_key_scopes (
    key_id TEXT NOT NULL REFERENCES api_keys (key_id) ON DELETE CASCADE,
    scope  TEXT NOT NULL REFERENCES scopes (name) ON DELETE NO ACTION, -- see client_scopes
    PRIMARY KEY (key_id, scope)
) STRICT;

CREATE INDEX api_key_scopes_scope ON api_key_scopes (scope);
