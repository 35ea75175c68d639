-- Client registry schema for PostgreSQL.
-- Identifiers use COLLATE "C" so that ordering (ListScopes, the ListClients
-- cursor) is byte order, as in SQLite, whatever the database's locale.
-- NEVER EDIT THIS FILE once landed: add 0002_... instead.

CREATE TABLE scopes (
    name        text COLLATE "C" PRIMARY KEY,
    description text        NOT NULL DEFAULT '',
    system      boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL
);

CREATE TABLE clients (
    client_id                text COLLATE "C" PRIMARY KEY,
    name                     text        NOT NULL,
    type                     text        NOT NULL,
    public                   boolean     NOT NULL,
    auth_method              text        NOT NULL,
    redirect_uris            text[]      NOT NULL DEFAULT '{}',
    grant_types              text[]      NOT NULL DEFAULT '{}',
    tls_subject_dn           text        NOT NULL DEFAULT '',
    tls_san_dns              text        NOT NULL DEFAULT '',
    tls_san_uri              text        NOT NULL DEFAULT '',
    tls_san_ip               text        NOT NULL DEFAULT '',
    tls_san_email            text        NOT NULL DEFAULT '',
    tls_cert_thumbprints     text[]      NOT NULL DEFAULT '{}',
    bound_access_tokens      boolean     NOT NULL DEFAULT false,
    access_token_lifetime_ms bigint      NOT NULL,
    rate_limit_tier          text        NOT NULL DEFAULT '',
    disabled                 boolean     NOT NULL DEFAULT false,
    require_consent          boolean     NOT NULL DEFAULT false,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL
);

-- ListClients pages in this order.
CREATE INDEX clients_created_at_client_id ON clients (created_at, client_id);

-- The foreign key to scopes is what keeps uncatalogued scopes out and a
-- granted scope from being deleted.
CREATE TABLE client_scopes (
    client_id text COLLATE "C" NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope     text COLLATE "C" NOT NULL REFERENCES scopes (name) ON DELETE RESTRICT,
    PRIMARY KEY (client_id, scope)
);

-- Without it, every scope deletion scans client_scopes.
CREATE INDEX client_scopes_scope ON client_scopes (scope);

-- created_at identifies a secret within its client.
CREATE TABLE client_secrets (
    client_id  text COLLATE "C" NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    hash       bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    PRIMARY KEY (client_id, created_at)
);

CREATE TABLE api_keys (
    key_id       text COLLATE "C" PRIMARY KEY,
    client_id    text COLLATE "C" NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    secret_hash  bytea       NOT NULL,
    description  text        NOT NULL DEFAULT '',
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked      boolean     NOT NULL DEFAULT false,
    revoked_at   timestamptz,
    replaced_by  text        NOT NULL DEFAULT ''
);

-- ListAPIKeys, and the cascade from clients.
CREATE INDEX api_keys_client_id_created_at ON api_keys (client_id, created_at);

CREATE TABLE api_key_scopes (
    key_id text COLLATE "C" NOT NULL REFERENCES api_keys (key_id) ON DELETE CASCADE,
    scope  text COLLATE "C" NOT NULL REFERENCES scopes (name) ON DELETE RESTRICT,
    PRIMARY KEY (key_id, scope)
);

CREATE INDEX api_key_scopes_scope ON api_key_scopes (scope);
