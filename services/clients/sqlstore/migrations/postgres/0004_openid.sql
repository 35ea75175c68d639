-- OpenID Connect client settings. Existing clients read back with the zero
-- values: no post-logout redirect URIs, no back-channel logout, and the
-- token service's default ID token lifetime (0).
--   post_logout_redirect_uris: RP-Initiated Logout 1.0 §3.1, compared by
--     exact string at the end-session endpoint.
--   backchannel_logout_uri, backchannel_logout_session_required:
--     Back-Channel Logout 1.0 §2.2 ('' and false: none).
--   id_token_lifetime_ms: milliseconds, as access_token_lifetime_ms; 0 is
--     the server default.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris text[] NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN backchannel_logout_uri text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN id_token_lifetime_ms bigint NOT NULL DEFAULT 0;
