-- OpenID Connect client settings. Existing clients read back with the zero
-- values: no post-logout redirect URIs, no back-channel logout, and the
-- token service's default ID token lifetime (0).
--   post_logout_redirect_uris: RP-Initiated Logout 1.0 §3.1, compared by
--     exact string at the end-session endpoint; a JSON array in TEXT like
--     the other lists.
--   backchannel_logout_uri, backchannel_logout_session_required:
--     Back-Channel Logout 1.0 §2.2 ('' and 0: none).
--   id_token_lifetime_ms: milliseconds, as access_token_lifetime_ms; 0 is
--     the server default.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN id_token_lifetime_ms INTEGER NOT NULL DEFAULT 0;
