-- Pushed authorization requests (RFC 9126): the validated parameters a
-- client pushed to /oauth2/par, under the SHA-256 of the random part of
-- their request_uri. used_at is NULL until a code is issued for the
-- request, which makes the request_uri single use. Times are INTEGER
-- microseconds since the Unix epoch, UTC.
-- NEVER EDIT THIS FILE once landed: add 0005_... instead.

CREATE TABLE grant_pushed_requests (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    client_id  TEXT    NOT NULL,
    params     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

-- DeleteExpired.
CREATE INDEX grant_pushed_requests_expires_at ON grant_pushed_requests (expires_at);
