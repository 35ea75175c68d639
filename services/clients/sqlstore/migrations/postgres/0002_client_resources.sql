-- RFC 8707 resource indicators a client may request tokens for (the token's
-- aud).
ALTER TABLE clients ADD COLUMN resources text[] NOT NULL DEFAULT '{}';
