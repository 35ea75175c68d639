// Package conformance is the executable form of the keys.Store contract.
// The store's tests call Run on SQLite and on PostgreSQL, so both databases
// are held to the same behaviour, including what the interface leaves open:
//
//   - List of an empty store is an empty slice, not nil;
//   - times come back in UTC, truncated to microseconds; zero times stay
//     zero; a removed key's PrivateKey comes back nil;
//   - Update ignores changes to Alg, PublicJWK and CreatedAt;
//   - Update orders its writes itself, so a change list that promotes the
//     new active key before demoting the old one still succeeds;
//   - concurrent Updates, from one handle or from several handles on one
//     database, are serialised: a check-then-insert makes one key, not two;
//   - a keys.CAStore keeps one platform CA: CreateCA on a store that has
//     one writes nothing and returns the stored CA, whoever calls it
//     concurrently from any handle; certificates are listed per client,
//     newest first, and a taken serial is ErrAlreadyExists.
package conformance
