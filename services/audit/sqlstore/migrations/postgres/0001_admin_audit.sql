-- The admin audit trail for PostgreSQL. Append-only to the admin API: rows
-- are inserted, a pending outcome is settled once, and the retention purge
-- deletes the oldest.
-- NEVER EDIT THIS FILE once landed: add 0002_... instead.
CREATE TABLE admin_audit (
    seq               bigserial   NOT NULL PRIMARY KEY,
    at                timestamptz NOT NULL,
    actor_kind        text        NOT NULL,
    actor_client_id   text        NOT NULL,
    actor_key_id      text        NOT NULL,
    actor_key_name    text        NOT NULL,
    actor_cert_serial text        NOT NULL,
    action            text        NOT NULL,
    outcome           text        NOT NULL,
    reason            text        NOT NULL,
    remote            text        NOT NULL,
    request_id        text        NOT NULL,
    service           text        NOT NULL
);

CREATE INDEX admin_audit_at ON admin_audit (at);
CREATE INDEX admin_audit_client ON admin_audit (actor_client_id, seq);
CREATE INDEX admin_audit_key ON admin_audit (actor_key_id, seq) WHERE actor_key_id <> '';

-- One row per id a record names: field is the request field's name.
CREATE TABLE admin_audit_targets (
    seq   bigint NOT NULL REFERENCES admin_audit (seq) ON DELETE CASCADE,
    field text   NOT NULL,
    value text   NOT NULL,
    PRIMARY KEY (seq, field, value)
);

CREATE INDEX admin_audit_targets_value ON admin_audit_targets (value, seq);
