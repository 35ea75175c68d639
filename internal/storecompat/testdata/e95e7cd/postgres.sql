-- Written by pg_dump from a database of the stores of this release; see the package comment.
CREATE TABLE api_key_scopes (
    key_id text NOT NULL COLLATE pg_catalog."C",
    scope text NOT NULL COLLATE pg_catalog."C"
);

CREATE TABLE api_keys (
    key_id text NOT NULL COLLATE pg_catalog."C",
    client_id text NOT NULL COLLATE pg_catalog."C",
    secret_hash bytea NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    expires_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    last_used_at timestamp with time zone,
    revoked boolean DEFAULT false NOT NULL,
    revoked_at timestamp with time zone,
    replaced_by text DEFAULT ''::text NOT NULL
);

CREATE TABLE client_certificates (
    serial text NOT NULL,
    client_id text NOT NULL,
    thumbprint text NOT NULL,
    not_before timestamp with time zone NOT NULL,
    not_after timestamp with time zone NOT NULL,
    der bytea NOT NULL,
    CONSTRAINT client_certificates_check CHECK (((serial <> ''::text) AND (client_id <> ''::text) AND (thumbprint <> ''::text) AND (length(der) > 0) AND (not_before < not_after)))
);

CREATE TABLE client_scopes (
    client_id text NOT NULL COLLATE pg_catalog."C",
    scope text NOT NULL COLLATE pg_catalog."C"
);

CREATE TABLE client_secrets (
    client_id text NOT NULL COLLATE pg_catalog."C",
    hash bytea NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone
);

CREATE TABLE clients (
    client_id text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL,
    type text NOT NULL,
    public boolean NOT NULL,
    auth_method text NOT NULL,
    redirect_uris text[] DEFAULT '{}'::text[] NOT NULL,
    grant_types text[] DEFAULT '{}'::text[] NOT NULL,
    tls_subject_dn text DEFAULT ''::text NOT NULL,
    tls_san_dns text DEFAULT ''::text NOT NULL,
    tls_san_uri text DEFAULT ''::text NOT NULL,
    tls_san_ip text DEFAULT ''::text NOT NULL,
    tls_san_email text DEFAULT ''::text NOT NULL,
    tls_cert_thumbprints text[] DEFAULT '{}'::text[] NOT NULL,
    bound_access_tokens boolean DEFAULT false NOT NULL,
    access_token_lifetime_ms bigint NOT NULL,
    rate_limit_tier text DEFAULT ''::text NOT NULL,
    disabled boolean DEFAULT false NOT NULL,
    require_consent boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    resources text[] DEFAULT '{}'::text[] NOT NULL,
    refresh_token_delivery text DEFAULT ''::text NOT NULL
);

CREATE TABLE grant_codes (
    hash bytea NOT NULL,
    client_id text NOT NULL,
    redirect_uri text NOT NULL,
    challenge text NOT NULL,
    user_id text NOT NULL,
    scopes text NOT NULL,
    resources text NOT NULL,
    family_id text NOT NULL,
    auth_time timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    redeemed_at timestamp with time zone,
    CONSTRAINT grant_codes_hash_check CHECK ((octet_length(hash) = 32)),
    CONSTRAINT grant_codes_resources_check CHECK ((jsonb_typeof((resources)::jsonb) = 'array'::text)),
    CONSTRAINT grant_codes_scopes_check CHECK ((jsonb_typeof((scopes)::jsonb) = 'array'::text))
);

CREATE TABLE grant_families (
    id text NOT NULL,
    client_id text NOT NULL,
    user_id text NOT NULL,
    scopes text NOT NULL,
    resources text NOT NULL,
    auth_time timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    revoke_reason text DEFAULT ''::text NOT NULL,
    CONSTRAINT grant_families_resources_check CHECK ((jsonb_typeof((resources)::jsonb) = 'array'::text)),
    CONSTRAINT grant_families_scopes_check CHECK ((jsonb_typeof((scopes)::jsonb) = 'array'::text))
);

CREATE TABLE grant_refresh_tokens (
    hash bytea NOT NULL,
    family_id text NOT NULL,
    scopes text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    idle_expires_at timestamp with time zone NOT NULL,
    rotated_at timestamp with time zone,
    CONSTRAINT grant_refresh_tokens_hash_check CHECK ((octet_length(hash) = 32)),
    CONSTRAINT grant_refresh_tokens_scopes_check CHECK ((jsonb_typeof((scopes)::jsonb) = 'array'::text))
);

CREATE TABLE grant_sessions (
    hash bytea NOT NULL,
    user_id text NOT NULL,
    auth_time timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT grant_sessions_hash_check CHECK ((octet_length(hash) = 32))
);

CREATE TABLE platform_ca (
    id text NOT NULL,
    serial text NOT NULL,
    certificate bytea NOT NULL,
    private_key bytea NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT platform_ca_check CHECK (((serial <> ''::text) AND (length(certificate) > 0) AND (length(private_key) > 0))),
    CONSTRAINT platform_ca_id_check CHECK ((id = 'platform'::text))
);

CREATE TABLE revocation_head (
    id smallint NOT NULL,
    seq bigint NOT NULL,
    log_id text NOT NULL,
    CONSTRAINT revocation_head_id_check CHECK ((id = 1)),
    CONSTRAINT revocation_head_log_id_check CHECK ((log_id ~ '^[0-9a-f]{32}$'::text)),
    CONSTRAINT revocation_head_seq_check CHECK ((seq >= 0))
);

CREATE TABLE revocations (
    seq bigint NOT NULL,
    kind integer NOT NULL,
    id text NOT NULL,
    reason text NOT NULL,
    revoked_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone,
    published boolean DEFAULT false NOT NULL,
    CONSTRAINT revocations_kind_check CHECK ((kind > 0))
);

CREATE TABLE schema_migrations (
    component text NOT NULL,
    version integer NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE scopes (
    name text NOT NULL COLLATE pg_catalog."C",
    description text DEFAULT ''::text NOT NULL,
    system boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE signing_keys (
    kid text NOT NULL,
    alg text NOT NULL,
    state text NOT NULL,
    public_jwk text NOT NULL,
    private_key bytea,
    created_at timestamp with time zone NOT NULL,
    activate_at timestamp with time zone,
    retired_at timestamp with time zone,
    remove_at timestamp with time zone,
    version bigint NOT NULL,
    CONSTRAINT signing_keys_alg_check CHECK ((alg = ANY (ARRAY['ES256'::text, 'EdDSA'::text, 'RS256'::text, 'PS256'::text]))),
    CONSTRAINT signing_keys_check CHECK (((state = 'removed'::text) = (private_key IS NULL))),
    CONSTRAINT signing_keys_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'active'::text, 'retired'::text, 'removed'::text])))
);

CREATE TABLE users (
    user_id text NOT NULL COLLATE pg_catalog."C",
    email text NOT NULL COLLATE pg_catalog."C",
    password_hash text NOT NULL,
    disabled boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT users_email_check CHECK ((email <> ''::text))
);

INSERT INTO api_key_scopes VALUES ('key-2', 'orders:read');
INSERT INTO api_key_scopes VALUES ('key-2', 'orders:write');
INSERT INTO api_key_scopes VALUES ('key-1', 'orders:read');
INSERT INTO api_key_scopes VALUES ('key-3', 'orders:read');

INSERT INTO api_keys VALUES ('key-1', 'svc', '\xf9811b73ac5d1a8db842634fc0f871e03207ae44105fc9c2b7f1985e70f90d5a', 'first', NULL, '2026-11-02 09:33:15.123456+00', NULL, true, '2026-11-02 09:36:15.123456+00', '');
INSERT INTO api_keys VALUES ('key-2', 'svc', '\xfe64a7d21153b7c9d45cca1f07c8a2b403d4d4140692cd59f009878cac447c1a', '', '2026-11-02 09:38:15.123456+00', '2026-11-02 09:35:15.123456+00', NULL, false, NULL, 'key-3');
INSERT INTO api_keys VALUES ('key-3', 'svc', '\xec80c7b7b9fba2b72ce8ba6e630ffce11ba0d94c78ed1cfd76651618be3c5530', '', NULL, '2026-11-02 09:37:15.123456+00', '2026-11-02 09:39:15.123456+00', false, NULL, '');

INSERT INTO client_certificates VALUES ('1f', 'partner-1', 'thumb-a', '2026-11-02 09:30:15.123456+00', '2027-01-31 09:30:15.123456+00', '\x6465722d61');
INSERT INTO client_certificates VALUES ('2e', 'partner-1', 'thumb-b', '2026-11-02 10:30:15.123456+00', '2027-02-01 09:30:15.123456+00', '\x6465722d62');

INSERT INTO client_scopes VALUES ('partner-1', 'orders:write');
INSERT INTO client_scopes VALUES ('partner-1', 'orders:read');
INSERT INTO client_scopes VALUES ('spa', 'orders:read');
INSERT INTO client_scopes VALUES ('svc', 'orders:read');

INSERT INTO client_secrets VALUES ('svc', '\xf7e7c36e458e80e6b6a2c67d0a9ec09bd718dadd7bfa8d6bf6e7ad526e46c2f7', '2026-11-02 09:33:15.123456+00', '2026-11-02 10:30:15.123456+00');
INSERT INTO client_secrets VALUES ('svc', '\xf4b6bb6548129dacf11c1a9c4dffffefd4aa6b21fcf4e9754cc03b731cbe7c25', '2026-11-02 09:34:15.123456+00', NULL);

INSERT INTO clients VALUES ('partner-1', 'Partner One', 'third_party', false, 'tls_client_auth', '{}', '{client_credentials}', 'CN=partner-1,O=Partner', 'partner.example', 'spiffe://partner/one', '192.0.2.7', 'ops@partner.example', '{thumb-a,thumb-b}', true, 420000, 'premium', false, true, '2026-11-02 09:31:15.123456+00', '2026-11-02 09:32:15.123456+00', '{https://api.example/orders}', '');
INSERT INTO clients VALUES ('spa', 'Web app', 'first_party', true, 'none', '{https://app.example/cb,http://127.0.0.1/cb}', '{authorization_code,refresh_token}', '', '', '', '', '', '{}', false, 600000, '', false, false, '2026-11-02 09:31:15.123456+00', '2026-11-02 09:31:15.123456+00', '{}', 'cookie');
INSERT INTO clients VALUES ('svc', 'Batch', 'third_party', false, 'client_secret_basic', '{}', '{client_credentials}', '', '', '', '', '', '{}', false, 300000, '', true, false, '2026-11-02 09:33:15.123456+00', '2026-11-02 09:33:15.123456+00', '{}', '');

INSERT INTO grant_codes VALUES ('\x0caa88c257d7122268f6494539faedf6b1d213409ff0dd264107182f174ea14a', 'spa', 'http://127.0.0.1/cb', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', 'u_bbbbbbbbbbbbbbbbbbbbbbbbbb', '["orders:read","orders:write"]', '[]', 'fam-3', '2026-11-02 09:30:15.123456+00', '2026-11-02 09:30:16.123456+00', '2026-11-02 10:30:15.123456+00', NULL);
INSERT INTO grant_codes VALUES ('\x51bd6639fed7c0b4826af6c06bfe4f4cce3aa7a8db3653978cd4d88ad0a18a8a', 'spa', 'https://app.example/cb', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', 'u_aaaaaaaaaaaaaaaaaaaaaaaaaa', '["orders:read"]', '["https://api.example/orders"]', 'fam-1', '2026-11-02 09:30:15.123456+00', '2026-11-02 09:30:16.123456+00', '2026-11-02 09:31:15.123456+00', '2026-11-02 09:30:25.123456+00');

INSERT INTO grant_families VALUES ('fam-1', 'spa', 'u_aaaaaaaaaaaaaaaaaaaaaaaaaa', '["orders:read"]', '["https://api.example/orders"]', '2026-11-02 09:30:15.123456+00', '2026-11-02 09:30:25.123456+00', '2026-12-02 09:30:15.123456+00', NULL, '');
INSERT INTO grant_families VALUES ('fam-4', 'svc', 'u_aaaaaaaaaaaaaaaaaaaaaaaaaa', '[]', '[]', '2026-11-02 09:30:15.123456+00', '2026-11-02 09:30:45.123456+00', '2026-11-02 10:30:15.123456+00', NULL, '');
INSERT INTO grant_families VALUES ('fam-2', 'spa', 'u_bbbbbbbbbbbbbbbbbbbbbbbbbb', '["orders:read"]', '[]', '2026-11-02 09:30:15.123456+00', '2026-11-02 09:30:35.123456+00', '2026-12-02 09:30:15.123456+00', '2026-11-02 09:39:15.123456+00', 'refresh_token_reuse');

INSERT INTO grant_refresh_tokens VALUES ('\x1f23b7dadfb229cbadb8f2ab7d236f3b5192fb858ce87bf35e50d9d8e7dd9b38', 'fam-2', '["orders:read"]', '2026-11-02 09:30:35.123456+00', '2026-11-03 09:30:35.123456+00', NULL);
INSERT INTO grant_refresh_tokens VALUES ('\xa33d8c625833429df4658aa6f6940675ca829051a620ed398517039d4a1fc7ec', 'fam-1', '["orders:read"]', '2026-11-02 09:30:25.123456+00', '2026-11-03 09:30:25.123456+00', '2026-11-02 10:30:15.123456+00');
INSERT INTO grant_refresh_tokens VALUES ('\x843f6e394aa3b9ea4ec60f5bc556d76e7106cc07db8668895724a36c3cf3c3d9', 'fam-1', '["orders:read"]', '2026-11-02 10:30:15.123456+00', '2026-11-03 10:30:15.123456+00', NULL);

INSERT INTO grant_sessions VALUES ('\xabe633f3a47a2758174eabe9160daf36c4b1a33e8642ebf96e8f91c3fcbd5f9c', 'u_aaaaaaaaaaaaaaaaaaaaaaaaaa', '2026-11-02 09:30:15.123456+00', '2026-11-02 09:30:15.123456+00', '2026-11-02 21:30:15.123456+00', NULL);
INSERT INTO grant_sessions VALUES ('\x2b8ea975811361aee25cfeb50cbe084ac4dc61de0cd39f05e2b4ec32c0f35470', 'u_bbbbbbbbbbbbbbbbbbbbbbbbbb', '2026-11-02 09:30:15.123456+00', '2026-11-02 09:30:15.123456+00', '2026-11-02 21:30:15.123456+00', '2026-11-02 10:30:15.123456+00');

INSERT INTO platform_ca VALUES ('platform', '0a1b', '\x63612d646572', '\x7365616c65642d6361', '2026-11-02 09:30:15.123456+00');

INSERT INTO revocation_head VALUES (1, 5, 'f3696b50c6e8fac9ae0d879d89d464ee');

INSERT INTO revocations VALUES (4, 4, 'svc', 'compromise again', '2026-11-02 09:38:15.123456+00', '2026-11-02 11:30:15.123456+00', false);
INSERT INTO revocations VALUES (5, 2, 'fam-2', 'reuse', '2026-11-02 09:39:15.123456+00', NULL, false);
INSERT INTO revocations VALUES (1, 1, 'jti-1', 'logout', '2026-11-02 09:31:15.123456+00', '2026-11-02 09:46:15.123456+00', true);
INSERT INTO revocations VALUES (2, 3, 'key-1', 'admin', '2026-11-02 09:36:15.123456+00', NULL, true);

INSERT INTO schema_migrations VALUES ('clients', 1, '2026-12-07 13:42:16.46392+00');
INSERT INTO schema_migrations VALUES ('clients', 2, '2026-12-07 13:42:16.498061+00');
INSERT INTO schema_migrations VALUES ('clients', 3, '2026-12-07 13:42:16.500141+00');
INSERT INTO schema_migrations VALUES ('keys', 1, '2026-12-07 13:42:16.502726+00');
INSERT INTO schema_migrations VALUES ('keys', 2, '2026-12-07 13:42:16.507272+00');
INSERT INTO schema_migrations VALUES ('revocation', 1, '2026-12-07 13:42:16.515328+00');
INSERT INTO schema_migrations VALUES ('users', 1, '2026-12-07 13:42:16.526392+00');
INSERT INTO schema_migrations VALUES ('grants', 1, '2026-12-07 13:42:16.532553+00');

INSERT INTO scopes VALUES ('orders:read', 'read orders', false, '2026-11-02 09:30:15.123456+00');
INSERT INTO scopes VALUES ('orders:write', 'write orders', false, '2026-11-02 09:30:16.123456+00');
INSERT INTO scopes VALUES ('gatehouse:admin', 'administer', true, '2026-11-02 09:30:17.123456+00');

INSERT INTO signing_keys VALUES ('kid-gone', 'RS256', 'removed', '{"kid":"kid-gone"}', NULL, '2026-11-02 08:30:15.123456+00', NULL, '2026-11-02 09:00:15.123456+00', '2026-11-02 09:29:15.123456+00', 1);
INSERT INTO signing_keys VALUES ('kid-old', 'ES256', 'retired', '{"kid":"kid-old"}', '\x7365616c65642d6f6c64', '2026-11-02 09:30:15.123456+00', '2026-11-02 09:30:15.123456+00', '2026-11-02 10:30:15.123456+00', '2026-11-03 10:30:15.123456+00', 2);
INSERT INTO signing_keys VALUES ('kid-next', 'PS256', 'pending', '{"kid":"kid-next"}', '\x7365616c65642d6e657874', '2026-11-02 11:30:15.123456+00', '2026-11-02 12:30:15.123456+00', NULL, NULL, 2);
INSERT INTO signing_keys VALUES ('kid-new', 'EdDSA', 'active', '{"kid":"kid-new"}', '\x7365616c65642d6e6577', '2026-11-02 10:00:15.123456+00', '2026-11-02 10:30:15.123456+00', NULL, NULL, 2);

INSERT INTO users VALUES ('u_aaaaaaaaaaaaaaaaaaaaaaaaaa', 'alice@example.com', '$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA', false, '2026-11-02 09:30:15.123456+00', '2026-11-02 09:30:15.123456+00');
INSERT INTO users VALUES ('u_bbbbbbbbbbbbbbbbbbbbbbbbbb', 'bob@example.com', '$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$Ym9i', true, '2026-11-02 09:31:15.123456+00', '2026-11-02 09:35:15.123456+00');

ALTER TABLE ONLY api_key_scopes
    ADD CONSTRAINT api_key_scopes_pkey PRIMARY KEY (key_id, scope);

ALTER TABLE ONLY api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (key_id);

ALTER TABLE ONLY client_certificates
    ADD CONSTRAINT client_certificates_pkey PRIMARY KEY (serial);

ALTER TABLE ONLY client_scopes
    ADD CONSTRAINT client_scopes_pkey PRIMARY KEY (client_id, scope);

ALTER TABLE ONLY client_secrets
    ADD CONSTRAINT client_secrets_pkey PRIMARY KEY (client_id, created_at);

ALTER TABLE ONLY clients
    ADD CONSTRAINT clients_pkey PRIMARY KEY (client_id);

ALTER TABLE ONLY grant_codes
    ADD CONSTRAINT grant_codes_pkey PRIMARY KEY (hash);

ALTER TABLE ONLY grant_families
    ADD CONSTRAINT grant_families_pkey PRIMARY KEY (id);

ALTER TABLE ONLY grant_refresh_tokens
    ADD CONSTRAINT grant_refresh_tokens_pkey PRIMARY KEY (hash);

ALTER TABLE ONLY grant_sessions
    ADD CONSTRAINT grant_sessions_pkey PRIMARY KEY (hash);

ALTER TABLE ONLY platform_ca
    ADD CONSTRAINT platform_ca_pkey PRIMARY KEY (id);

ALTER TABLE ONLY revocation_head
    ADD CONSTRAINT revocation_head_pkey PRIMARY KEY (id);

ALTER TABLE ONLY revocations
    ADD CONSTRAINT revocations_kind_id_key UNIQUE (kind, id);

ALTER TABLE ONLY revocations
    ADD CONSTRAINT revocations_pkey PRIMARY KEY (seq);

ALTER TABLE ONLY schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (component, version);

ALTER TABLE ONLY scopes
    ADD CONSTRAINT scopes_pkey PRIMARY KEY (name);

ALTER TABLE ONLY signing_keys
    ADD CONSTRAINT signing_keys_pkey PRIMARY KEY (kid);

ALTER TABLE ONLY users
    ADD CONSTRAINT users_email_key UNIQUE (email);

ALTER TABLE ONLY users
    ADD CONSTRAINT users_pkey PRIMARY KEY (user_id);

CREATE INDEX api_key_scopes_scope ON api_key_scopes USING btree (scope);

CREATE INDEX api_keys_client_id_created_at ON api_keys USING btree (client_id, created_at);

CREATE INDEX client_certificates_by_client ON client_certificates USING btree (client_id, not_before DESC, serial COLLATE "C");

CREATE INDEX client_scopes_scope ON client_scopes USING btree (scope);

CREATE INDEX clients_created_at_client_id ON clients USING btree (created_at, client_id);

CREATE INDEX grant_codes_expires_at ON grant_codes USING btree (expires_at);

CREATE INDEX grant_families_client_live ON grant_families USING btree (client_id, created_at) WHERE (revoked_at IS NULL);

CREATE INDEX grant_families_expires_at ON grant_families USING btree (expires_at);

CREATE INDEX grant_families_user_live ON grant_families USING btree (user_id, created_at) WHERE (revoked_at IS NULL);

CREATE INDEX grant_refresh_tokens_family_id ON grant_refresh_tokens USING btree (family_id);

CREATE INDEX grant_sessions_expires_at ON grant_sessions USING btree (expires_at);

CREATE INDEX grant_sessions_user_live ON grant_sessions USING btree (user_id) WHERE (revoked_at IS NULL);

CREATE INDEX revocations_expires_at ON revocations USING btree (expires_at) WHERE (expires_at IS NOT NULL);

CREATE INDEX revocations_unpublished ON revocations USING btree (seq) WHERE (NOT published);

CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys USING btree (state) WHERE (state = 'active'::text);

CREATE INDEX users_created_at_user_id ON users USING btree (created_at, user_id);

ALTER TABLE ONLY api_key_scopes
    ADD CONSTRAINT api_key_scopes_key_id_fkey FOREIGN KEY (key_id) REFERENCES api_keys(key_id) ON DELETE CASCADE;

ALTER TABLE ONLY api_key_scopes
    ADD CONSTRAINT api_key_scopes_scope_fkey FOREIGN KEY (scope) REFERENCES scopes(name) ON DELETE RESTRICT;

ALTER TABLE ONLY api_keys
    ADD CONSTRAINT api_keys_client_id_fkey FOREIGN KEY (client_id) REFERENCES clients(client_id) ON DELETE CASCADE;

ALTER TABLE ONLY client_scopes
    ADD CONSTRAINT client_scopes_client_id_fkey FOREIGN KEY (client_id) REFERENCES clients(client_id) ON DELETE CASCADE;

ALTER TABLE ONLY client_scopes
    ADD CONSTRAINT client_scopes_scope_fkey FOREIGN KEY (scope) REFERENCES scopes(name) ON DELETE RESTRICT;

ALTER TABLE ONLY client_secrets
    ADD CONSTRAINT client_secrets_client_id_fkey FOREIGN KEY (client_id) REFERENCES clients(client_id) ON DELETE CASCADE;

ALTER TABLE ONLY grant_refresh_tokens
    ADD CONSTRAINT grant_refresh_tokens_family_id_fkey FOREIGN KEY (family_id) REFERENCES grant_families(id) ON DELETE CASCADE;
