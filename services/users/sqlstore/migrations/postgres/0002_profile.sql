-- OpenID Connect profile claims (Core 1.0 §5.1) for PostgreSQL.
-- Validated and normalized by the service; '' and false mean unknown, which
-- is what the rows of earlier releases read as. email_verified is set by an
-- admin only: there is no email-verification flow.
-- NEVER EDIT THIS FILE once landed: add 0003_... instead.

ALTER TABLE users ADD COLUMN name               text    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN given_name         text    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN family_name        text    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN preferred_username text    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN locale             text    NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email_verified     boolean NOT NULL DEFAULT false;
