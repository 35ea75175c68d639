-- How the token service hands a client its refresh tokens: 'body' (the
-- token response) or 'cookie' (an HttpOnly cookie, for browser apps); ''
-- for a client without the refresh_token grant. Existing clients get what
-- the registry would give them now: 'body' when they have that grant.
ALTER TABLE clients ADD COLUMN refresh_token_delivery TEXT NOT NULL DEFAULT '';

UPDATE clients SET refresh_token_delivery = 'body'
WHERE EXISTS (SELECT 1 FROM json_each(clients.grant_types) WHERE json_each.value = 'refresh_token');
