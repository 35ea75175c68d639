package conformance

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// Shorthands that fail the test on error.

func (e *env) createCode(c grantstore.Code) {
	e.t.Helper()
	if err := e.s.CreateCode(e.ctx, c); err != nil {
		e.t.Fatalf("CreateCode(%s): %v", c.ClientID, err)
	}
}

func (e *env) redeem(hash []byte, now time.Time) grantstore.Code {
	e.t.Helper()
	c, err := e.s.RedeemCode(e.ctx, hash, now)
	if err != nil {
		e.t.Fatalf("RedeemCode: %v", err)
	}
	return c
}

func (e *env) createFamily(f grantstore.Family, rt *grantstore.Refresh) {
	e.t.Helper()
	if err := e.s.CreateFamily(e.ctx, f, rt); err != nil {
		e.t.Fatalf("CreateFamily(%s): %v", f.ID, err)
	}
}

// rotate rotates old as its family's client, with its key, would.
func (e *env) rotate(old []byte, next grantstore.Refresh, now time.Time) (grantstore.Family, grantstore.Refresh) {
	e.t.Helper()
	_, of := e.getRefresh(old)
	f, rt, err := e.s.RotateRefresh(e.ctx, old, owner(of), next, now)
	if err != nil {
		e.t.Fatalf("RotateRefresh: %v", err)
	}
	return f, rt
}

// owner is the presenter of f's tokens that RotateRefresh accepts.
func owner(f grantstore.Family) grantstore.Presenter {
	return grantstore.Presenter{ClientID: f.ClientID, DPoPJKT: f.DPoPJKT}
}

func (e *env) getFamily(id string) grantstore.Family {
	e.t.Helper()
	f, err := e.s.GetFamily(e.ctx, id)
	if err != nil {
		e.t.Fatalf("GetFamily(%s): %v", id, err)
	}
	return f
}

func (e *env) getRefresh(hash []byte) (grantstore.Refresh, grantstore.Family) {
	e.t.Helper()
	rt, f, err := e.s.GetRefresh(e.ctx, hash)
	if err != nil {
		e.t.Fatalf("GetRefresh: %v", err)
	}
	return rt, f
}

func (e *env) revokeFamily(id, reason string, now time.Time) grantstore.Family {
	e.t.Helper()
	f, err := e.s.RevokeFamily(e.ctx, id, reason, now)
	if err != nil {
		e.t.Fatalf("RevokeFamily(%s): %v", id, err)
	}
	return f
}

func (e *env) createSession(s grantstore.Session) {
	e.t.Helper()
	if err := e.s.CreateSession(e.ctx, s); err != nil {
		e.t.Fatalf("CreateSession(%s): %v", s.UserID, err)
	}
}

func (e *env) getSession(hash []byte) grantstore.Session {
	e.t.Helper()
	s, err := e.s.GetSession(e.ctx, hash)
	if err != nil {
		e.t.Fatalf("GetSession: %v", err)
	}
	return s
}

func (e *env) deleteExpired(now time.Time, keep time.Duration) int64 {
	e.t.Helper()
	n, err := e.s.DeleteExpired(e.ctx, now, keep)
	if err != nil {
		e.t.Fatalf("DeleteExpired(%v, %v): %v", now, keep, err)
	}
	return n
}

// The absent* helpers check that nothing is stored under a key.

func (e *env) absentFamily(id string) {
	e.t.Helper()
	_, err := e.s.GetFamily(e.ctx, id)
	assertErrorIs(e.t, err, grantstore.ErrNotFound)
}

func (e *env) absentRefresh(hash []byte) {
	e.t.Helper()
	_, _, err := e.s.GetRefresh(e.ctx, hash)
	assertErrorIs(e.t, err, grantstore.ErrNotFound)
}

func (e *env) absentSession(hash []byte) {
	e.t.Helper()
	_, err := e.s.GetSession(e.ctx, hash)
	assertErrorIs(e.t, err, grantstore.ErrNotFound)
}
