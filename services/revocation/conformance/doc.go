// Package conformance is the executable form of the revocation.Store
// contract. The sqlstore tests call Run on SQLite and on PostgreSQL, so both
// databases are held to the same behaviour, including the choices the
// interface leaves open:
//
//   - times come back in UTC, truncated to microseconds; a zero ExpiresAt
//     (never) stays zero;
//   - List and Unpublished of nothing return an empty slice, not nil;
//   - MarkPublished of no or unknown sequence numbers is not an error;
//   - an expired entry that is not yet deleted still counts as existing.
//
// The concurrency tests are the point of the package: sequence numbers
// must be unique, gap-free while nothing is deleted, and never become
// visible out of order, which a follower paging with List(since = last)
// would otherwise turn into a lost revocation.
package conformance
