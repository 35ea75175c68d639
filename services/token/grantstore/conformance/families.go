package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

var familyTests = []test{
	{"CreateFamily with a first token: GetFamily and GetRefresh return them as stored", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		rt := sampleRefresh("a", f.ID, t0)
		e.createFamily(f, &rt)
		assertEqual(t, "GetFamily", e.getFamily(f.ID), storedFamily(f))
		gotRT, gotF := e.getRefresh(rt.Hash)
		assertEqual(t, "GetRefresh token", gotRT, storedRefresh(rt))
		assertEqual(t, "GetRefresh family", gotF, storedFamily(f))
	}},

	{"CreateFamily without a refresh token records the family alone", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		e.createFamily(f, nil)
		assertEqual(t, "GetFamily", e.getFamily(f.ID), storedFamily(f))
		// Its access tokens are revoked by family id.
		got := e.revokeFamily(f.ID, "logout", t0.Add(time.Minute))
		assertEqual(t, "revoked family", got, storedFamily(revoked(f, t0.Add(time.Minute), "logout")))
	}},

	{"CreateFamily of a taken family id or token hash is ErrExists and writes nothing", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		rt := sampleRefresh("a", f.ID, t0)
		e.createFamily(f, &rt)

		t.Run("taken family id", func(t *testing.T) {
			e := e.in(t)
			again := sampleFamily("f1", "c2", "u2", t0.Add(time.Hour))
			newRT := sampleRefresh("b", again.ID, t0.Add(time.Hour))
			assertErrorIs(t, e.s.CreateFamily(e.ctx, again, &newRT), grantstore.ErrExists)
			e.absentRefresh(newRT.Hash) // not half-written
			assertEqual(t, "first family", e.getFamily(f.ID), storedFamily(f))
		})
		t.Run("taken token hash", func(t *testing.T) {
			e := e.in(t)
			other := sampleFamily("f2", "c1", "u1", t0)
			dup := sampleRefresh("a", other.ID, t0)
			assertErrorIs(t, e.s.CreateFamily(e.ctx, other, &dup), grantstore.ErrExists)
			e.absentFamily(other.ID) // not half-written
			gotRT, gotF := e.getRefresh(rt.Hash)
			assertEqual(t, "first token", gotRT, storedRefresh(rt))
			assertEqual(t, "first token's family", gotF, storedFamily(f))
		})
	}},

	{"CreateFamily refuses a first token of another family and writes nothing", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		rt := sampleRefresh("a", "f2", t0)
		assertPlainError(t, e.s.CreateFamily(e.ctx, f, &rt))
		e.absentFamily(f.ID)
		e.absentRefresh(rt.Hash)
	}},

	{"unknown families and tokens are ErrNotFound", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		rt := sampleRefresh("a", f.ID, t0)
		e.createFamily(f, &rt)
		e.absentFamily("f2")
		e.absentRefresh(hash("refresh b"))
		_, err := e.s.RevokeFamily(e.ctx, "f2", "logout", t0)
		assertErrorIs(t, err, grantstore.ErrNotFound)
		e.absentFamily("f2") // RevokeFamily did not create it
	}},

	{"RevokeFamily is idempotent: the first time and reason stay", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		e.createFamily(f, nil)
		want := storedFamily(revoked(f, t0.Add(time.Minute), "logout"))
		assertEqual(t, "first RevokeFamily", e.revokeFamily(f.ID, "logout", t0.Add(time.Minute)), want)
		assertEqual(t, "second RevokeFamily", e.revokeFamily(f.ID, "admin", t0.Add(time.Hour)), want)
		assertEqual(t, "GetFamily", e.getFamily(f.ID), want)
	}},

	{"RevokeFamily leaves other families alone", func(t *testing.T, e *env) {
		a, b := sampleFamily("a", "c1", "u1", t0), sampleFamily("b", "c1", "u1", t0)
		e.createFamily(a, nil)
		e.createFamily(b, nil)
		e.revokeFamily(a.ID, "logout", t0)
		assertEqual(t, "other family", e.getFamily(b.ID), storedFamily(b))
	}},

	{"RevokeFamilies revokes the live families it names, keeps a revoked one's first time and reason, skips unknown ids and leaves the others alone", func(t *testing.T, e *env) {
		live1, live2 := sampleFamily("live1", "c1", "u1", t0), sampleFamily("live2", "c2", "u2", t0)
		already, other := sampleFamily("already", "c1", "u1", t0), sampleFamily("other", "c1", "u1", t0)
		for _, f := range []grantstore.Family{live1, live2, already, other} {
			e.createFamily(f, nil)
		}
		first := e.revokeFamily(already.ID, "logout", t0.Add(time.Minute))
		at := t0.Add(time.Hour)
		n, err := e.s.RevokeFamilies(e.ctx, []string{live2.ID, "unknown", already.ID, live1.ID, live1.ID}, "family revoked", at)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("RevokeFamilies revoked %d, want 2", n)
		}
		assertEqual(t, "live1", e.getFamily(live1.ID), storedFamily(revoked(live1, at, "family revoked")))
		assertEqual(t, "live2", e.getFamily(live2.ID), storedFamily(revoked(live2, at, "family revoked")))
		assertEqual(t, "already revoked", e.getFamily(already.ID), first)
		assertEqual(t, "not named", e.getFamily(other.ID), storedFamily(other))
		e.absentFamily("unknown")
		if n, err := e.s.RevokeFamilies(e.ctx, nil, "family revoked", at); err != nil || n != 0 {
			t.Errorf("RevokeFamilies of none: %d, %v", n, err)
		}
	}},

	{"RevokeFamilies of a page of 2,000 ids revokes each family", func(t *testing.T, e *env) {
		var ids []string
		for i := range 2000 {
			id := fmt.Sprintf("page-%04d", i)
			ids = append(ids, id)
			if i%2 == 0 {
				e.createFamily(sampleFamily(id, "c1", "u1", t0), nil)
			}
		}
		n, err := e.s.RevokeFamilies(e.ctx, ids, "family revoked", t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n != 1000 {
			t.Errorf("RevokeFamilies revoked %d, want 1000", n)
		}
		if f := e.getFamily("page-1998"); f.RevokedAt.IsZero() {
			t.Error("the last family of the page is live")
		}
	}},

	{"GetRefresh returns a rotated token and a revoked family as they are", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		a := sampleRefresh("a", f.ID, t0)
		e.createFamily(f, &a)
		b := sampleRefresh("b", f.ID, t0.Add(time.Hour))
		e.rotate(a.Hash, b, t0.Add(time.Hour))
		e.revokeFamily(f.ID, "logout", t0.Add(2*time.Hour))
		wantF := storedFamily(revoked(f, t0.Add(2*time.Hour), "logout"))
		gotA, gotF := e.getRefresh(a.Hash)
		assertEqual(t, "rotated token", gotA, storedRefresh(rotated(a, t0.Add(time.Hour))))
		assertEqual(t, "its family", gotF, wantF)
		gotB, _ := e.getRefresh(b.Hash)
		assertEqual(t, "current token", gotB, storedRefresh(b))
	}},
}
