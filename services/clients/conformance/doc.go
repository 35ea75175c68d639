// Package conformance is the executable form of the clients.Store contract.
// The store's tests call Run on SQLite and on PostgreSQL, so both databases
// are held to the same behaviour, including the choices the interface leaves
// open (recorded in the test names and comments of this package):
//
//   - returned slices are never nil: nil and empty are stored alike;
//   - times come back in UTC, truncated to microseconds; zero optional times
//     (no expiry, never used) stay zero;
//   - AccessTokenLifetime and IDTokenLifetime are kept to the millisecond,
//     a zero IDTokenLifetime (the server default) included;
//   - the OpenID Connect settings (PostLogoutRedirectURIs,
//     BackchannelLogoutURI, BackchannelLogoutSessionRequired) are stored
//     as given, zero values included;
//   - RefreshTokenDelivery is stored as given, "" included (the store does
//     not validate: the registry does);
//   - ListClients, ListSecrets and ListAPIKeys of nothing return an empty
//     slice, not an error; ListClients refuses a limit below 1;
//   - granting a scope missing from the catalogue fails with ErrNotFound;
//   - TouchAPIKey of an unknown key is not an error;
//   - a zero previousExpiresAt in RotateSecret expires the old secrets at
//     the new one's CreatedAt.
package conformance
