// Package conformance is the executable form of the grantstore.Store
// contract. The store's tests call Run on SQLite and on PostgreSQL, so both
// databases are held to the same behaviour, including the choices the
// interface leaves open:
//
//   - times come back in UTC, truncated to microseconds; zero optional
//     times (not redeemed, not revoked, not rotated) stay zero;
//   - lists come back in order and never nil: nil and empty are stored
//     alike;
//   - a write refuses a hash that is not 32 bytes, storing nothing;
//   - RotateRefresh checks reuse before revocation, so every replay of a
//     rotated token is ErrRefreshReused, and returns the family and the old
//     token with each of its refusals;
//   - RevokeUserFamilies and RevokeClientFamilies also revoke expired (but
//     not revoked) families, and return them ordered by CreatedAt, ID;
//   - RevokeUserSessions leaves expired sessions alone;
//   - DeleteExpired counts refresh tokens among the rows it deletes, and
//     refuses a negative keep.
//
// The concurrency tests are the point of the package: a code redeemed
// twice or a refresh token rotated twice is a stolen credential used
// undetected.
package conformance
