package conformance

import (
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
)

var expiryTests = []test{
	{"DeleteExpired removes only entries expired at now, and keeps the head", func(t *testing.T, e *env) {
		s := e.store()
		now := t0.Add(time.Hour)
		kind := revocationv1.Kind_KIND_ACCESS_TOKEN
		never, _ := e.revoke(s, entry(kind, "never", t0, time.Time{}))
		future, _ := e.revoke(s, entry(kind, "future", t0, now.Add(time.Microsecond)))
		e.revoke(s, entry(kind, "past", t0, now.Add(-time.Second)))
		e.revoke(s, entry(kind, "exactly-now", t0, now)) // the largest seq
		if n := e.deleteExpired(s, now); n != 2 {
			t.Errorf("DeleteExpired = %d, want 2", n)
		}
		all, head := e.list(s, 0, 10)
		assertEntries(t, all, never, future)
		if head != 4 {
			t.Errorf("List head = %d after deleting seq 4, want 4", head)
		}
		if h := e.head(s); h != 4 {
			t.Errorf("Head = %d after deleting seq 4, want 4", h)
		}
		// The next seq follows the head, not the largest seq left.
		next, _ := e.revoke(s, entry(kind, "next", t0, time.Time{}))
		if next.Seq != 5 {
			t.Errorf("next seq = %d, want 5", next.Seq)
		}
		if n := e.deleteExpired(s, now); n != 0 {
			t.Errorf("second DeleteExpired = %d, want 0", n)
		}
	}},

	{"DeleteExpired compares instants, not wall clocks", func(t *testing.T, e *env) {
		s := e.store()
		e.revoke(s, entry(revocationv1.Kind_KIND_API_KEY, "k", t0, t0.Add(time.Hour)))
		// One microsecond before the expiry, written in another zone.
		if n := e.deleteExpired(s, t0.Add(time.Hour-time.Microsecond).In(time.UTC)); n != 0 {
			t.Errorf("DeleteExpired before the expiry = %d, want 0", n)
		}
		if n := e.deleteExpired(s, t0.Add(time.Hour).In(time.UTC)); n != 1 {
			t.Errorf("DeleteExpired at the expiry = %d, want 1", n)
		}
	}},

	{"an expired entry still counts as existing until deleted", func(t *testing.T, e *env) {
		s := e.store()
		kind := revocationv1.Kind_KIND_API_KEY
		first, _ := e.revoke(s, entry(kind, "k", t0, t0.Add(time.Second)))
		got, created := e.revoke(s, entry(kind, "k", t0.Add(time.Hour), t0.Add(2*time.Hour)))
		if created || got != first {
			t.Errorf("Revoke of an expired, undeleted entry = %+v created=%v, want %+v", got, created, first)
		}
		e.deleteExpired(s, t0.Add(time.Minute))
		got, created = e.revoke(s, entry(kind, "k", t0.Add(time.Hour), t0.Add(2*time.Hour)))
		if !created || got.Seq != 2 {
			t.Errorf("Revoke after deletion: created=%v seq=%d, want a new entry at seq 2", created, got.Seq)
		}
	}},
}
