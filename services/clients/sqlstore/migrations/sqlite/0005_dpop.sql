-- DPoP (RFC 9449 §5.2, RFC 7591 dpop_bound_access_tokens): a client that
-- must bind its access tokens to a DPoP key, so the token endpoint refuses
-- its requests without a proof. Existing clients read back 0.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens INTEGER NOT NULL DEFAULT 0;
