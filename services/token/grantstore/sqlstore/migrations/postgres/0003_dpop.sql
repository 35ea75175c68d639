-- DPoP (RFC 9449): a code keeps the dpop_jkt of its authorization request
-- (§10), and a public client's grant the thumbprint of the key its refresh
-- tokens are bound to (§5). '' is unbound, as every existing row is.
-- NEVER EDIT THIS FILE once landed: add 0004_... instead.

ALTER TABLE grant_codes ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';
ALTER TABLE grant_families ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';
