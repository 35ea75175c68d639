-- The admin audit trail for SQLite. Append-only to the admin API: rows are
-- inserted, a pending outcome is settled once, and the retention purge
-- deletes the oldest. at is INTEGER microseconds since the Unix epoch, UTC.
-- NEVER EDIT THIS FILE once landed: add 0002_... instead.
CREATE TABLE admin_audit (
    seq               INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at                INTEGER NOT NULL,
    actor_kind        TEXT    NOT NULL,
    actor_client_id   TEXT    NOT NULL,
    actor_key_id      TEXT    NOT NULL,
    actor_key_name    TEXT    NOT NULL,
    actor_cert_serial TEXT    NOT NULL,
    action            TEXT    NOT NULL,
    outcome           TEXT    NOT NULL,
    reason            TEXT    NOT NULL,
    remote            TEXT    NOT NULL,
    request_id        TEXT    NOT NULL,
    service           TEXT    NOT NULL
) STRICT;

CREATE INDEX admin_audit_at ON admin_audit (at);
CREATE INDEX admin_audit_client ON admin_audit (actor_client_id, seq);
CREATE INDEX admin_audit_key ON admin_audit (actor_key_id, seq) WHERE actor_key_id <> '';

-- One row per id a record names: field is the request field's name.
CREATE TABLE admin_audit_targets (
    seq   INTEGER NOT NULL REFERENCES admin_audit (seq) ON DELETE CASCADE,
    field TEXT    NOT NULL,
    value TEXT    NOT NULL,
    PRIMARY KEY (seq, field, value)
) STRICT;

CREATE INDEX admin_audit_targets_value ON admin_audit_targets (value, seq);
