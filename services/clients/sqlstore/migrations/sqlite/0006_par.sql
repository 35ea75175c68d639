-- Pushed authorization requests (RFC 9126 §6, RFC 7591
-- require_pushed_authorization_requests): a client whose authorization
-- requests /oauth2/authorize takes only by a request_uri from /oauth2/par.
-- Existing clients read back 0.
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0;
