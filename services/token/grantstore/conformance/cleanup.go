package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

var cleanupTests = []test{
	{"deletes what expired at or before now - keep and keeps the rest", func(t *testing.T, e *env) {
		const keep = 24 * time.Hour
		now := t0.Add(100 * 24 * time.Hour)
		cutoff := now.Add(-keep)

		// Codes: expires at the cut-off (deleted), redeemed and long
		// expired (deleted), expired within keep (kept: a replay is
		// still recognised), live (kept).
		codeAt := func(name string, expires time.Time) grantstore.Code {
			c := sampleCode(name, expires.Add(-codeLifetime))
			e.createCode(c)
			return c
		}
		codeGone := codeAt("gone", cutoff)
		codeRedeemedGone := codeAt("redeemed gone", cutoff.Add(-time.Hour))
		e.redeem(codeRedeemedGone.Hash, codeRedeemedGone.CreatedAt)
		codeRedeemedKept := codeAt("redeemed kept", cutoff.Add(time.Microsecond))
		e.redeem(codeRedeemedKept.Hash, codeRedeemedKept.CreatedAt)
		codeExpiredKept := codeAt("expired kept", now)
		codeLive := codeAt("live", now.Add(time.Minute))

		// Families, each with tokens: expired at the cut-off (deleted
		// with both its tokens), expired within keep (kept), revoked but
		// live (kept), live (kept).
		familyAt := func(id string, expires time.Time, tokens ...string) grantstore.Family {
			f := sampleFamily(id, "c1", "u1", expires.Add(-familyLifetime))
			first := sampleRefresh(tokens[0], id, f.CreatedAt)
			e.createFamily(f, &first)
			prev := first
			for _, name := range tokens[1:] {
				next := sampleRefresh(name, id, f.CreatedAt.Add(time.Minute))
				e.rotate(prev.Hash, next, next.CreatedAt)
				prev = next
			}
			return f
		}
		famGone := familyAt("gone", cutoff, "gone 1", "gone 2")
		famKept := familyAt("expired kept", cutoff.Add(time.Microsecond), "kept 1", "kept 2")
		famRevoked := familyAt("revoked", now.Add(time.Hour), "revoked 1")
		e.revokeFamily(famRevoked.ID, "logout", t0)
		famLive := familyAt("live", now.Add(time.Hour), "live 1")

		// Sessions: expired long ago (deleted), expired within keep,
		// revoked but live, live (kept).
		sessionAt := func(name string, expires time.Time) grantstore.Session {
			s := sampleSession(name, "u1", expires.Add(-sessionLifetime))
			e.createSession(s)
			return s
		}
		sessGone := sessionAt("gone", cutoff.Add(-time.Hour))
		sessKept := sessionAt("expired kept", now)
		sessRevoked := sessionAt("revoked", now.Add(time.Hour))
		if err := e.s.RevokeSession(e.ctx, sessRevoked.Hash, t0); err != nil {
			t.Fatal(err)
		}
		sessLive := sessionAt("live", now.Add(time.Hour))

		// 2 codes + 1 family + its 2 tokens + 1 session.
		if n := e.deleteExpired(now, keep); n != 6 {
			t.Errorf("DeleteExpired = %d, want 6", n)
		}

		for name, h := range map[string][]byte{"gone": codeGone.Hash, "redeemed gone": codeRedeemedGone.Hash} {
			_, err := e.s.RedeemCode(e.ctx, h, now)
			if !errors.Is(err, grantstore.ErrNotFound) {
				t.Errorf("code %s: RedeemCode = %v, want ErrNotFound (deleted)", name, err)
			}
		}
		_, err := e.s.RedeemCode(e.ctx, codeRedeemedKept.Hash, now)
		assertErrorIs(t, err, grantstore.ErrCodeRedeemed)
		_, err = e.s.RedeemCode(e.ctx, codeExpiredKept.Hash, now)
		assertErrorIs(t, err, grantstore.ErrExpired)
		e.redeem(codeLive.Hash, now)

		e.absentFamily(famGone.ID)
		e.absentRefresh(hash("refresh gone 1"))
		e.absentRefresh(hash("refresh gone 2"))
		for _, f := range []grantstore.Family{famKept, famRevoked, famLive} {
			e.getFamily(f.ID)
		}
		// The rotated-out token of a kept family is still there: its
		// replay is still recognised as reuse.
		_, _, err = e.s.RotateRefresh(e.ctx, hash("refresh kept 1"), owner(famKept), sampleRefresh("z", famKept.ID, now), now)
		assertErrorIs(t, err, grantstore.ErrRefreshReused)
		e.getRefresh(hash("refresh revoked 1"))
		e.getRefresh(hash("refresh live 1"))

		e.absentSession(sessGone.Hash)
		for _, s := range []grantstore.Session{sessKept, sessRevoked, sessLive} {
			e.getSession(s.Hash)
		}

		if n := e.deleteExpired(now, keep); n != 0 {
			t.Errorf("second DeleteExpired = %d, want 0", n)
		}
	}},

	{"the cut-off is inclusive and compares instants", func(t *testing.T, e *env) {
		c := sampleCode("a", t0)
		e.createCode(c)
		s := sampleSession("a", "u1", t0)
		e.createSession(s)
		f := sampleFamily("f1", "c1", "u1", t0)
		e.createFamily(f, nil)
		for _, tc := range []struct {
			name    string
			expires time.Time
			want    int64
		}{
			{"code", c.ExpiresAt, 1},
			{"session", s.ExpiresAt, 1},
			{"family", f.ExpiresAt, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.in(t)
				// now - keep one microsecond short of the expiry,
				// then at it, in another zone.
				now := tc.expires.Add(time.Hour - time.Microsecond).In(time.UTC)
				if n := e.deleteExpired(now, time.Hour); n != 0 {
					t.Errorf("DeleteExpired a microsecond early = %d, want 0", n)
				}
				if n := e.deleteExpired(tc.expires.Add(time.Hour).In(time.UTC), time.Hour); n != tc.want {
					t.Errorf("DeleteExpired at the cut-off = %d, want %d", n, tc.want)
				}
			})
		}
	}},

	{"keep 0 deletes what expired at now", func(t *testing.T, e *env) {
		c := sampleCode("a", t0)
		e.createCode(c)
		if n := e.deleteExpired(c.ExpiresAt, 0); n != 1 {
			t.Errorf("DeleteExpired = %d, want 1", n)
		}
	}},

	{"a negative keep is refused and deletes nothing", func(t *testing.T, e *env) {
		c := sampleCode("a", t0)
		e.createCode(c)
		n, err := e.s.DeleteExpired(e.ctx, c.ExpiresAt.Add(-time.Second), -time.Hour)
		assertPlainError(t, err)
		if n != 0 {
			t.Errorf("DeleteExpired = %d with an error, want 0", n)
		}
		e.redeem(c.Hash, t0)
	}},
}
