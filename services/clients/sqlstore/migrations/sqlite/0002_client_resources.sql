-- RFC 8707 resource indicators a client may request tokens for (the token's
-- aud), as a JSON array in TEXT like the other lists.
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
