-- OpenID Connect profile claims (Core 1.0 §5.1) for SQLite.
-- Validated and normalized by the service; '' and 0 mean unknown, which is
-- what the rows of earlier releases read as. email_verified is 0 or 1, set
-- by an admin only: there is no email-verification flow.
-- NEVER EDIT THIS FILE once landed: add 0003_... instead.

ALTER TABLE users ADD COLUMN name               TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN given_name         TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN family_name        TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN preferred_username TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN locale             TEXT    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email_verified     INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));
