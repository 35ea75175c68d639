// Package users is the user directory: the accounts that sign in to
// first-party apps with an email address and a password. It defines the
// Store it needs (the sqlstore package below implements it on SQLite and
// PostgreSQL, and the conformance package tests it on both), the gRPC UserService for admins, and
// Authenticate for the login page.
//
// # Profile
//
// A user carries the OpenID Connect Core 1.0 §5.1 claims the token service
// puts in ID tokens and UserInfo responses: name, given_name, family_name,
// preferred_username, locale, email_verified, and updated_at (UpdatedAt).
// The text claims are trimmed, valid UTF-8 without control characters, at
// most 200 bytes (preferred_username 128, with no white space); locale is
// a BCP 47 language tag kept in canonical case. email_verified is what an
// admin says: there is no email-verification flow, and changing the email
// without setting email_verified clears it. Service.Lookup reads a user's
// claims in process.
//
// # Passwords
//
// Passwords are hashed with argon2id (RFC 9106) and stored in the PHC
// string format, $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>, so each hash
// carries the parameters it was made with. Defaults are RFC 9106 §4's
// second recommended option (64 MiB, 3 passes, 4 lanes, 16-byte salt,
// 32-byte tag). A hash made with other parameters still verifies and is
// replaced on the user's next successful sign-in. Passwords and hashes are
// never logged and never leave the service.
//
// # Disabling users
//
// Disabling a user records a KIND_SUBJECT revocation for the user's id (see
// WithRevoker), so every token issued to the user until then stops being
// accepted; a disabled user cannot sign in again.
package users
