package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
)

// NewStores returns n stores over one new, empty, migrated database, each
// with its own connection pool as n processes would have (store i > 0 is a
// re-opening of the same database), and arranges cleanup with t.Cleanup.
type NewStores func(t *testing.T, n int) []revocation.Store

// Run tests a revocation.Store implementation against the contract. Each
// leaf subtest calls newStores once or twice.
func Run(t *testing.T, newStores NewStores) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"LogID", logIDTests},
		{"Revoke", revokeTests},
		{"List", listTests},
		{"Outbox", outboxTests},
		{"Expiry", expiryTests},
		{"Concurrency", concurrencyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) {
					tt.run(t, &env{t: t, ctx: t.Context(), new: newStores})
				})
			}
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, e *env)
}

type env struct {
	t   *testing.T
	ctx context.Context
	new NewStores
}

func (e *env) store() revocation.Store { return e.new(e.t, 1)[0] }

// zone is deliberately not UTC: stores must hand back UTC whatever they
// were given.
var zone = time.FixedZone("UTC+05:30", 5*3600+30*60)

// t0 carries nanoseconds, which every backend truncates to microseconds.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 123456789, zone)

// pointKinds are every kind but the cut-off ones.
var pointKinds = []revocationv1.Kind{
	revocationv1.Kind_KIND_ACCESS_TOKEN,
	revocationv1.Kind_KIND_REFRESH_FAMILY,
	revocationv1.Kind_KIND_API_KEY,
	revocationv1.Kind_KIND_CERTIFICATE,
	revocationv1.Kind_KIND_SIGNING_KEY,
}

var cutOffKinds = []revocationv1.Kind{
	revocationv1.Kind_KIND_CLIENT,
	revocationv1.Kind_KIND_SUBJECT,
}

func entry(kind revocationv1.Kind, id string, revoked, expires time.Time) revocation.Entry {
	return revocation.Entry{Kind: kind, ID: id, Reason: "reason for " + id, RevokedAt: revoked, ExpiresAt: expires}
}

// normTime is t as a store hands it back.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// stored is e as a store hands it back under seq.
func stored(e revocation.Entry, seq int64) revocation.Entry {
	e.Seq = seq
	e.RevokedAt, e.ExpiresAt = normTime(e.RevokedAt), normTime(e.ExpiresAt)
	return e
}

func assertEntry(t *testing.T, got, want revocation.Entry) {
	t.Helper()
	// The location too: UTC is part of the contract, and == on time.Time
	// compares it.
	if got != want {
		t.Errorf("entry:\n got %+v\nwant %+v", got, want)
	}
}

func assertEntries(t *testing.T, got []revocation.Entry, want ...revocation.Entry) {
	t.Helper()
	if got == nil {
		t.Error("entries: nil slice, want empty")
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries %v, want %d %v", len(got), seqs(got), len(want), seqs(want))
	}
	for i := range want {
		assertEntry(t, got[i], want[i])
	}
}

func seqs(es []revocation.Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func assertErrorIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want errors.Is(err, %v)", err, target)
	}
}

// Shorthands that fail the test on error.

func (e *env) revoke(s revocation.Store, en revocation.Entry) (revocation.Entry, bool) {
	e.t.Helper()
	got, created, err := s.Revoke(e.ctx, en)
	if err != nil {
		e.t.Fatalf("Revoke(%s %q): %v", en.Kind, en.ID, err)
	}
	return got, created
}

func (e *env) get(s revocation.Store, kind revocationv1.Kind, id string) revocation.Entry {
	e.t.Helper()
	got, err := s.Get(e.ctx, kind, id)
	if err != nil {
		e.t.Fatalf("Get(%s %q): %v", kind, id, err)
	}
	return got
}

func (e *env) list(s revocation.Store, since int64, limit int) ([]revocation.Entry, int64) {
	e.t.Helper()
	es, head, err := s.List(e.ctx, since, limit)
	if err != nil {
		e.t.Fatalf("List(%d, %d): %v", since, limit, err)
	}
	return es, head
}

func (e *env) head(s revocation.Store) int64 {
	e.t.Helper()
	h, err := s.Head(e.ctx)
	if err != nil {
		e.t.Fatalf("Head: %v", err)
	}
	return h
}

func (e *env) logID(s revocation.Store) string {
	e.t.Helper()
	id, err := s.LogID(e.ctx)
	if err != nil {
		e.t.Fatalf("LogID: %v", err)
	}
	return id
}

func (e *env) unpublished(s revocation.Store, limit int) []revocation.Entry {
	e.t.Helper()
	es, err := s.Unpublished(e.ctx, limit)
	if err != nil {
		e.t.Fatalf("Unpublished(%d): %v", limit, err)
	}
	return es
}

func (e *env) markPublished(s revocation.Store, seqs ...int64) {
	e.t.Helper()
	if err := s.MarkPublished(e.ctx, seqs); err != nil {
		e.t.Fatalf("MarkPublished(%v): %v", seqs, err)
	}
}

func (e *env) deleteExpired(s revocation.Store, now time.Time) int64 {
	e.t.Helper()
	n, err := s.DeleteExpired(e.ctx, now)
	if err != nil {
		e.t.Fatalf("DeleteExpired(%v): %v", now, err)
	}
	return n
}

// in returns the env for a subtest, so that its helpers fail the subtest.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t = t
	c.ctx = t.Context()
	return &c
}
