package conformance

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// chain creates family f1 with token a at t0 and rotates it to b (t1) and
// c (t2), returning the three as created.
func (e *env) chain() (f grantstore.Family, a, b, c grantstore.Refresh) {
	e.t.Helper()
	f = sampleFamily("f1", "c1", "u1", t0)
	a = sampleRefresh("a", f.ID, t0)
	e.createFamily(f, &a)
	b = sampleRefresh("b", f.ID, t1)
	e.rotate(a.Hash, b, t1)
	c = sampleRefresh("c", f.ID, t2)
	e.rotate(b.Hash, c, t2)
	return f, a, b, c
}

var (
	t1 = t0.Add(time.Hour)
	t2 = t0.Add(2 * time.Hour)
	t3 = t0.Add(3 * time.Hour)
)

var rotationTests = []test{
	{"rotation A→B→C returns the family and the old token marked rotated, and stores the next", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		a := sampleRefresh("a", f.ID, t0)
		e.createFamily(f, &a)
		b := sampleRefresh("b", f.ID, t1)
		b.Scopes = nil // not narrowed: the old token's
		gotF, gotOld := e.rotate(a.Hash, b, t1.Add(time.Nanosecond))
		b.Scopes = a.Scopes
		assertEqual(t, "family", gotF, storedFamily(f))
		assertEqual(t, "old token", gotOld, storedRefresh(rotated(a, t1)))
		c := sampleRefresh("c", f.ID, t2)
		gotF, gotOld = e.rotate(b.Hash, c, t2)
		assertEqual(t, "family", gotF, storedFamily(f))
		assertEqual(t, "old token", gotOld, storedRefresh(rotated(b, t2)))

		for _, tc := range []struct {
			name string
			rt   grantstore.Refresh
			want grantstore.Refresh
		}{
			{"A", a, rotated(a, t1)},
			{"B", b, rotated(b, t2)},
			{"C", c, c},
		} {
			gotRT, gotF := e.getRefresh(tc.rt.Hash)
			assertEqual(t, "GetRefresh "+tc.name, gotRT, storedRefresh(tc.want))
			assertEqual(t, "family of "+tc.name, gotF, storedFamily(f))
		}
	}},

	{"presenting a rotated token is reuse: the family is revoked, then its current token is ErrRevoked", func(t *testing.T, e *env) {
		f, a, _, c := e.chain()
		wantF := storedFamily(revoked(f, t3, grantstore.ReasonRefreshReuse))

		d := sampleRefresh("d", f.ID, t3)
		gotF, gotOld, err := e.s.RotateRefresh(e.ctx, a.Hash, owner(f), d, t3)
		assertErrorIs(t, err, grantstore.ErrRefreshReused)
		assertEqual(t, "family returned with ErrRefreshReused", gotF, wantF)
		assertEqual(t, "token returned with ErrRefreshReused", gotOld, storedRefresh(rotated(a, t1)))
		assertEqual(t, "GetFamily", e.getFamily(f.ID), wantF)
		e.absentRefresh(d.Hash)

		// The legitimate holder's token now fails too: the family is
		// dead.
		e2 := sampleRefresh("e", f.ID, t3)
		gotF, gotOld, err = e.s.RotateRefresh(e.ctx, c.Hash, owner(f), e2, t3.Add(time.Second))
		assertErrorIs(t, err, grantstore.ErrRevoked)
		assertEqual(t, "family returned with ErrRevoked", gotF, wantF)
		assertEqual(t, "token returned with ErrRevoked", gotOld, storedRefresh(c))
		e.absentRefresh(e2.Hash)
		gotC, _ := e.getRefresh(c.Hash)
		assertEqual(t, "C after the refusal", gotC, storedRefresh(c))

		// Another replay is still reuse; the first revocation stands.
		gotF, _, err = e.s.RotateRefresh(e.ctx, a.Hash, owner(f), d, t3.Add(time.Hour))
		assertErrorIs(t, err, grantstore.ErrRefreshReused)
		assertEqual(t, "family after a second replay", gotF, wantF)
	}},

	{"reuse in a family revoked before keeps the first revocation", func(t *testing.T, e *env) {
		f, a, _, _ := e.chain()
		e.revokeFamily(f.ID, "logout", t3)
		wantF := storedFamily(revoked(f, t3, "logout"))
		gotF, _, err := e.s.RotateRefresh(e.ctx, a.Hash, owner(f), sampleRefresh("d", f.ID, t3), t3.Add(time.Minute))
		assertErrorIs(t, err, grantstore.ErrRefreshReused)
		assertEqual(t, "family", gotF, wantF)
		assertEqual(t, "GetFamily", e.getFamily(f.ID), wantF)
	}},

	{"the current token of a revoked family is ErrRevoked and stays current", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		a := sampleRefresh("a", f.ID, t0)
		e.createFamily(f, &a)
		e.revokeFamily(f.ID, "logout", t1)
		b := sampleRefresh("b", f.ID, t2)
		_, _, err := e.s.RotateRefresh(e.ctx, a.Hash, owner(f), b, t2)
		assertErrorIs(t, err, grantstore.ErrRevoked)
		e.absentRefresh(b.Hash)
		gotA, _ := e.getRefresh(a.Hash)
		assertEqual(t, "A", gotA, storedRefresh(a))
	}},

	{"idle expiry: refused at IdleExpiresAt with ErrExpired, not marked", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		a := sampleRefresh("a", f.ID, t0)
		e.createFamily(f, &a)
		b := sampleRefresh("b", f.ID, a.IdleExpiresAt)
		for _, now := range []time.Time{a.IdleExpiresAt, a.IdleExpiresAt.Add(time.Hour).In(time.UTC)} {
			gotF, gotOld, err := e.s.RotateRefresh(e.ctx, a.Hash, owner(f), b, now)
			assertErrorIs(t, err, grantstore.ErrExpired)
			assertEqual(t, "family returned with ErrExpired", gotF, storedFamily(f))
			assertEqual(t, "token returned with ErrExpired", gotOld, storedRefresh(a))
		}
		e.absentRefresh(b.Hash)
		// Not marked: a microsecond earlier it still rotates.
		before := a.IdleExpiresAt.Add(-time.Microsecond)
		_, old := e.rotate(a.Hash, b, before)
		assertEqual(t, "old token", old, storedRefresh(rotated(a, before)))
	}},

	{"absolute expiry: refused at the family's ExpiresAt even with idle time left", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		f.ExpiresAt = t0.Add(time.Hour)
		a := sampleRefresh("a", f.ID, t0) // idle until t0 + 24h
		e.createFamily(f, &a)
		b := sampleRefresh("b", f.ID, f.ExpiresAt)
		_, _, err := e.s.RotateRefresh(e.ctx, a.Hash, owner(f), b, f.ExpiresAt)
		assertErrorIs(t, err, grantstore.ErrExpired)
		e.absentRefresh(b.Hash)
		_, old := e.rotate(a.Hash, b, f.ExpiresAt.Add(-time.Microsecond))
		assertEqual(t, "old token", old, storedRefresh(rotated(a, f.ExpiresAt.Add(-time.Microsecond))))
	}},

	{"a replay of a rotated token after expiry is still reuse", func(t *testing.T, e *env) {
		f, a, _, _ := e.chain()
		late := f.ExpiresAt.Add(time.Hour)
		gotF, _, err := e.s.RotateRefresh(e.ctx, a.Hash, owner(f), sampleRefresh("d", f.ID, late), late)
		assertErrorIs(t, err, grantstore.ErrRefreshReused)
		assertEqual(t, "family", gotF, storedFamily(revoked(f, late, grantstore.ReasonRefreshReuse)))
	}},

	{"an unknown token is ErrNotFound", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		e.createFamily(f, nil)
		next := sampleRefresh("b", f.ID, t1)
		gotF, gotOld, err := e.s.RotateRefresh(e.ctx, hash("refresh a"), owner(f), next, t1)
		assertErrorIs(t, err, grantstore.ErrNotFound)
		assertEqual(t, "family returned with ErrNotFound", gotF, grantstore.Family{})
		assertEqual(t, "token returned with ErrNotFound", gotOld, grantstore.Refresh{})
		e.absentRefresh(next.Hash)
	}},

	{"a next token of another family is refused and the old token stays current", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		a := sampleRefresh("a", f.ID, t0)
		e.createFamily(f, &a)
		e.createFamily(sampleFamily("f2", "c1", "u1", t0), nil)
		for _, familyID := range []string{"f2"} {
			b := sampleRefresh("b", familyID, t1)
			_, _, err := e.s.RotateRefresh(e.ctx, a.Hash, owner(f), b, t1)
			assertPlainError(t, err)
			e.absentRefresh(b.Hash)
		}
		gotA, _ := e.getRefresh(a.Hash)
		assertEqual(t, "A", gotA, storedRefresh(a))
	}},

	{"another client, a missing or other DPoP key, or wider scopes are ErrMismatch and change nothing, even for a rotated token", func(t *testing.T, e *env) {
		f, a, _, c := e.chain()
		widened := sampleRefresh("d", f.ID, t3)
		widened.Scopes = []string{"orders:read", "orders:write"}
		for _, tc := range []struct {
			name string
			by   grantstore.Presenter
			next grantstore.Refresh
		}{
			{"another client", grantstore.Presenter{ClientID: "c2", DPoPJKT: f.DPoPJKT}, sampleRefresh("d", f.ID, t3)},
			{"no DPoP key", grantstore.Presenter{ClientID: f.ClientID}, sampleRefresh("d", f.ID, t3)},
			{"another DPoP key", grantstore.Presenter{ClientID: f.ClientID, DPoPJKT: "jkt-of-another"}, sampleRefresh("d", f.ID, t3)},
			{"wider scopes", owner(f), widened},
		} {
			for _, old := range []grantstore.Refresh{c, rotated(a, t1)} {
				gotF, gotOld, err := e.s.RotateRefresh(e.ctx, old.Hash, tc.by, tc.next, t3)
				assertErrorIs(t, err, grantstore.ErrMismatch)
				assertEqual(t, tc.name+": family returned", gotF, storedFamily(f))
				assertEqual(t, tc.name+": token returned", gotOld, storedRefresh(old))
				e.absentRefresh(tc.next.Hash)
			}
		}
		assertEqual(t, "family after the refusals", e.getFamily(f.ID), storedFamily(f))
		gotC, _ := e.getRefresh(c.Hash)
		assertEqual(t, "C after the refusals", gotC, storedRefresh(c))
		e.rotate(c.Hash, sampleRefresh("d", f.ID, t3), t3)
	}},

	{"the next token is completed from the family: its id, the old token's scopes, the idle expiry capped at the family's", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		f.ExpiresAt = t0.Add(2 * time.Hour)
		a := sampleRefresh("a", f.ID, t0)
		a.Scopes = []string{"openid", "orders:read"}
		e.createFamily(f, &a)
		b := grantstore.Refresh{Hash: hash("refresh b"), CreatedAt: t1, IdleExpiresAt: t1.Add(idleTimeout)}
		e.rotate(a.Hash, b, t1)
		want := b
		want.FamilyID, want.Scopes, want.IdleExpiresAt = f.ID, a.Scopes, f.ExpiresAt
		gotB, _ := e.getRefresh(b.Hash)
		assertEqual(t, "B", gotB, storedRefresh(want))
	}},

	{"a next token with a taken hash is ErrExists and the old token stays current", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		a := sampleRefresh("a", f.ID, t0)
		e.createFamily(f, &a)
		other := sampleFamily("f2", "c1", "u1", t0)
		x := sampleRefresh("x", other.ID, t0)
		e.createFamily(other, &x)
		next := sampleRefresh("x", f.ID, t1)
		_, _, err := e.s.RotateRefresh(e.ctx, a.Hash, owner(f), next, t1)
		assertErrorIs(t, err, grantstore.ErrExists)
		gotA, _ := e.getRefresh(a.Hash)
		assertEqual(t, "A", gotA, storedRefresh(a))
		gotX, gotF := e.getRefresh(x.Hash)
		assertEqual(t, "X", gotX, storedRefresh(x))
		assertEqual(t, "X's family", gotF, storedFamily(other))
	}},
}
