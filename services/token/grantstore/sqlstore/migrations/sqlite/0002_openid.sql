-- OpenID Connect: a code keeps its request's nonce for the ID token, and a
-- code and its grant the login session (sid) they were made in, which a
-- logout of that session revokes and whose clients it notifies.
-- NEVER EDIT THIS FILE once landed: add 0003_... instead.

ALTER TABLE grant_codes ADD COLUMN nonce TEXT NOT NULL DEFAULT '';
ALTER TABLE grant_codes ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE grant_families ADD COLUMN session_id TEXT NOT NULL DEFAULT '';

-- RevokeSessionFamilies looks only at live families of a session.
CREATE INDEX grant_families_session_live ON grant_families (session_id, created_at) WHERE revoked_at IS NULL;
