package conformance

import (
	"regexp"
	"testing"
)

var hex128 = regexp.MustCompile(`^[0-9a-f]{32}$`)

var logIDTests = []test{
	{"is 128 bits of lower-case hex, the same on every call and every re-opening", func(t *testing.T, e *env) {
		ss := e.new(t, 2)
		first := e.logID(ss[0])
		if !hex128.MatchString(first) {
			t.Fatalf("LogID = %q, want 32 lower-case hex digits", first)
		}
		if again := e.logID(ss[0]); again != first {
			t.Errorf("second LogID = %q, want %q", again, first)
		}
		if reopened := e.logID(ss[1]); reopened != first {
			t.Errorf("LogID after re-opening = %q, want %q", reopened, first)
		}
	}},

	{"survives writes", func(t *testing.T, e *env) {
		s := e.store()
		before := e.logID(s)
		e.revoke(s, entry(cutOffKinds[0], "c", t0, t0.Add(1)))
		e.revoke(s, entry(cutOffKinds[0], "c", t0, t0.Add(2)))
		e.deleteExpired(s, t0.AddDate(1, 0, 0))
		if after := e.logID(s); after != before {
			t.Errorf("LogID = %q after writes, was %q", after, before)
		}
	}},

	{"differs between two databases", func(t *testing.T, e *env) {
		a, b := e.logID(e.store()), e.logID(e.store())
		if a == b {
			t.Errorf("two new databases have the same LogID %q", a)
		}
	}},
}
