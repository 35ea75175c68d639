// Package ratelimit holds per-key token buckets with named tiers, on
// golang.org/x/time/rate.
//
// A Limiter keeps one bucket per key (Gatehouse uses the client_id) and the
// tier the key was last seen with: a key whose tier changes gets a fresh
// bucket of the new tier. Memory is bounded by WithMaxKeys. Eviction is lazy
// and runs no goroutine: when a shard is full, buckets that have refilled to
// their burst are dropped first (such a bucket behaves exactly like a new
// one, so dropping it loses nothing); only if none has, the least recently
// used bucket of the shard goes.
package ratelimit
