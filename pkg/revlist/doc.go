// Package revlist keeps a validator's copy of the revocation list: an
// in-memory set of live revocations answering in O(1) for every request,
// and a follower that loads it from the revocation service, applies
// Revoked events from NATS in sequence order (or, without NATS, the
// revocation service's Watch stream), and re-syncs on a gap, a reconnect
// or a periodic tick, so a broker outage delays a revocation but never
// loses it.
package revlist
