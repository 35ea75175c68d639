package conformance

import (
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
)

var outboxTests = []test{
	{"Unpublished returns unmarked entries in seq order up to the limit", func(t *testing.T, e *env) {
		s := e.store()
		all := e.fill(s, 5)
		assertEntries(t, e.unpublished(s, 3), all[:3]...)
		e.markPublished(s, all[0].Seq, all[2].Seq)
		assertEntries(t, e.unpublished(s, 10), all[1], all[3], all[4])
		e.markPublished(s, all[1].Seq, all[3].Seq, all[4].Seq)
		assertEntries(t, e.unpublished(s, 10))
	}},

	{"MarkPublished of nothing, of unknown seqs and twice is not an error", func(t *testing.T, e *env) {
		s := e.store()
		all := e.fill(s, 2)
		e.markPublished(s)
		e.markPublished(s, 404, -1)
		e.markPublished(s, all[0].Seq)
		e.markPublished(s, all[0].Seq)
		assertEntries(t, e.unpublished(s, 10), all[1])
	}},

	{"a point Revoke that changes nothing does not requeue the entry", func(t *testing.T, e *env) {
		s := e.store()
		first, _ := e.revoke(s, entry(revocationv1.Kind_KIND_REFRESH_FAMILY, "f", t0, time.Time{}))
		e.markPublished(s, first.Seq)
		e.revoke(s, entry(revocationv1.Kind_KIND_REFRESH_FAMILY, "f", t0.Add(time.Second), time.Time{}))
		assertEntries(t, e.unpublished(s, 10))
	}},

	{"marking an old seq of a replaced cut-off leaves the new one queued", func(t *testing.T, e *env) {
		// The outbox read seq 1, the entry was replaced under seq 2
		// meanwhile, then the publish of seq 1 completed.
		s := e.store()
		old, _ := e.revoke(s, entry(revocationv1.Kind_KIND_CLIENT, "c", t0, time.Time{}))
		replaced, _ := e.revoke(s, entry(revocationv1.Kind_KIND_CLIENT, "c", t0.Add(time.Second), time.Time{}))
		e.markPublished(s, old.Seq)
		assertEntries(t, e.unpublished(s, 10), replaced)
	}},
}
