package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

var valueTests = []test{
	{"nil and empty lists are stored alike and come back empty, not nil", func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name string
			list []string
		}{{"nil", nil}, {"empty", []string{}}} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.in(t)
				c := sampleCode(tc.name, t0)
				c.Scopes, c.Resources = tc.list, tc.list
				e.createCode(c)
				got := e.redeem(c.Hash, t0)
				if got.Scopes == nil || len(got.Scopes) != 0 || got.Resources == nil || len(got.Resources) != 0 {
					t.Errorf("code lists = %#v, %#v; want empty, not nil", got.Scopes, got.Resources)
				}

				f := sampleFamily(tc.name, "c1", "u1", t0)
				f.Scopes, f.Resources = tc.list, tc.list
				rt := sampleRefresh(tc.name, f.ID, t0)
				rt.Scopes = tc.list
				e.createFamily(f, &rt)
				gotRT, gotF := e.getRefresh(rt.Hash)
				if gotF.Scopes == nil || len(gotF.Scopes) != 0 || gotF.Resources == nil || len(gotF.Resources) != 0 {
					t.Errorf("family lists = %#v, %#v; want empty, not nil", gotF.Scopes, gotF.Resources)
				}
				if gotRT.Scopes == nil || len(gotRT.Scopes) != 0 {
					t.Errorf("token scopes = %#v; want empty, not nil", gotRT.Scopes)
				}
			})
		}
	}},

	{"lists keep their order, duplicates and every character", func(t *testing.T, e *env) {
		odd := []string{"z", "a", "a", "", "scope with space", `quote" back\slash`, "ünï☃", "https://api.example/x?a=1&b=%20"}
		c := sampleCode("a", t0)
		c.Scopes, c.Resources = odd, odd
		e.createCode(c)
		got := e.redeem(c.Hash, t0)
		assertEqual(t, "code scopes", got.Scopes, odd)
		assertEqual(t, "code resources", got.Resources, odd)

		f := sampleFamily("f1", "c1", "u1", t0)
		f.Scopes, f.Resources = odd, odd
		rt := sampleRefresh("a", f.ID, t0)
		rt.Scopes = odd
		e.createFamily(f, &rt)
		gotRT, gotF := e.getRefresh(rt.Hash)
		assertEqual(t, "family", gotF, storedFamily(f))
		assertEqual(t, "token", gotRT, storedRefresh(rt))
	}},

	{"times come back in UTC to the microsecond, zero optional times stay zero", func(t *testing.T, e *env) {
		s := sampleSession("a", "u1", t0)
		e.createSession(s)
		got := e.getSession(s.Hash)
		for name, tm := range map[string]time.Time{"AuthTime": got.AuthTime, "CreatedAt": got.CreatedAt, "ExpiresAt": got.ExpiresAt} {
			if tm.Location() != time.UTC {
				t.Errorf("%s in %v, want UTC", name, tm.Location())
			}
			if tm.Nanosecond()%1000 != 0 {
				t.Errorf("%s = %v, has nanoseconds", name, tm)
			}
		}
		if !got.CreatedAt.Equal(t0.Truncate(time.Microsecond)) {
			t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, t0.Truncate(time.Microsecond))
		}
		if !got.RevokedAt.IsZero() {
			t.Errorf("RevokedAt = %v, want zero", got.RevokedAt)
		}
	}},

	{"every write refuses a hash that is not 32 bytes and stores nothing", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		a := sampleRefresh("a", f.ID, t0)
		e.createFamily(f, &a)
		for _, n := range []int{0, 16, 31, 33, 64} {
			bad := make([]byte, n)
			for i := range bad {
				bad[i] = byte(i + 1)
			}
			name := func(method string) string { return fmt.Sprintf("%s with %d bytes", method, n) }
			t.Run(name("CreateCode"), func(t *testing.T) {
				e := e.in(t)
				c := sampleCode("a", t0)
				c.Hash = bad
				assertPlainError(t, e.s.CreateCode(e.ctx, c))
				_, err := e.s.RedeemCode(e.ctx, bad, t0)
				assertErrorIs(t, err, grantstore.ErrNotFound)
			})
			t.Run(name("CreateFamily"), func(t *testing.T) {
				e := e.in(t)
				g := sampleFamily("g", "c1", "u1", t0)
				rt := sampleRefresh("b", g.ID, t0)
				rt.Hash = bad
				assertPlainError(t, e.s.CreateFamily(e.ctx, g, &rt))
				e.absentFamily(g.ID)
				e.absentRefresh(bad)
			})
			t.Run(name("RotateRefresh"), func(t *testing.T) {
				e := e.in(t)
				next := sampleRefresh("b", f.ID, t1)
				next.Hash = bad
				_, _, err := e.s.RotateRefresh(e.ctx, a.Hash, owner(f), next, t1)
				assertPlainError(t, err)
				e.absentRefresh(bad)
				gotA, _ := e.getRefresh(a.Hash)
				assertEqual(t, "A", gotA, storedRefresh(a))
			})
			t.Run(name("CreateSession"), func(t *testing.T) {
				e := e.in(t)
				s := sampleSession("a", "u1", t0)
				s.Hash = bad
				assertPlainError(t, e.s.CreateSession(e.ctx, s))
				e.absentSession(bad)
			})
		}
	}},
}
