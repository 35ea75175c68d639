package conformance

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

var sessionTests = []test{
	{"CreateSession then GetSession returns it as stored", func(t *testing.T, e *env) {
		s := sampleSession("a", "u1", t0)
		s.AuthTime = t0.Add(-time.Hour) // re-used from an earlier login
		e.createSession(s)
		assertEqual(t, "GetSession", e.getSession(s.Hash), storedSession(s))
	}},

	{"unknown sessions are ErrNotFound and a taken hash is ErrExists", func(t *testing.T, e *env) {
		s := sampleSession("a", "u1", t0)
		e.createSession(s)
		e.absentSession(hash("session b"))
		assertErrorIs(t, e.s.RevokeSession(e.ctx, hash("session b"), t0), grantstore.ErrNotFound)
		e.absentSession(hash("session b")) // RevokeSession did not create it
		other := sampleSession("b", "u2", t1)
		other.Hash = s.Hash
		assertErrorIs(t, e.s.CreateSession(e.ctx, other), grantstore.ErrExists)
		assertEqual(t, "first session", e.getSession(s.Hash), storedSession(s))
	}},

	{"ReauthenticateSession moves AuthTime of a live session only", func(t *testing.T, e *env) {
		s := sampleSession("a", "u1", t0)
		e.createSession(s)
		again := t0.Add(time.Minute + 999*time.Nanosecond)
		if err := e.s.ReauthenticateSession(e.ctx, s.Hash, again); err != nil {
			t.Fatal(err)
		}
		want := s
		want.AuthTime = again
		assertEqual(t, "GetSession", e.getSession(s.Hash), storedSession(want))
		assertErrorIs(t, e.s.ReauthenticateSession(e.ctx, hash("session unknown"), again), grantstore.ErrNotFound)
		assertErrorIs(t, e.s.ReauthenticateSession(e.ctx, s.Hash, s.ExpiresAt), grantstore.ErrNotFound)
		if err := e.s.RevokeSession(e.ctx, s.Hash, again); err != nil {
			t.Fatal(err)
		}
		assertErrorIs(t, e.s.ReauthenticateSession(e.ctx, s.Hash, again.Add(time.Second)), grantstore.ErrNotFound)
	}},

	{"RevokeSession is idempotent: the first time stays", func(t *testing.T, e *env) {
		s := sampleSession("a", "u1", t0)
		e.createSession(s)
		for _, at := range []time.Time{t1, t2} {
			if err := e.s.RevokeSession(e.ctx, s.Hash, at); err != nil {
				t.Fatalf("RevokeSession at %v: %v", at, err)
			}
			want := s
			want.RevokedAt = t1
			assertEqual(t, "GetSession", e.getSession(s.Hash), storedSession(want))
		}
	}},

	{"a revoked or expired session is still returned, whatever its state", func(t *testing.T, e *env) {
		s := sampleSession("a", "u1", t0)
		s.ExpiresAt = t0.Add(-time.Hour)
		s.RevokedAt = t0.Add(-2 * time.Hour)
		e.createSession(s)
		assertEqual(t, "GetSession", e.getSession(s.Hash), storedSession(s))
	}},

	{"RevokeUserSessions revokes only the user's live sessions started before the cut-off, and counts them", func(t *testing.T, e *env) {
		now := t1
		sessions := map[string]grantstore.Session{
			"live":          sampleSession("live", "u1", t0),
			"live2":         sampleSession("live2", "u1", t0.Add(time.Minute)),
			"other user":    sampleSession("other user", "u2", t0),
			"expired":       sampleSession("expired", "u1", now.Add(-sessionLifetime)), // ExpiresAt = now
			"revoked":       sampleSession("revoked", "u1", t0),
			"created later": sampleSession("created later", "u1", now.Add(time.Hour)),
		}
		for _, s := range sessions {
			e.createSession(s)
		}
		if err := e.s.RevokeSession(e.ctx, sessions["revoked"].Hash, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		// The cut-off is the second live session's start: the one created
		// later (a sign-in after the revocation) survives.
		n, err := e.s.RevokeUserSessions(e.ctx, "u1", t0.Add(time.Minute), now)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("RevokeUserSessions = %d, want 2", n)
		}
		wantRevokedAt := map[string]time.Time{
			"live": now, "live2": now, "revoked": t0.Add(time.Second),
			"other user": {}, "expired": {}, "created later": {},
		}
		for name, s := range sessions {
			want := s
			want.RevokedAt = wantRevokedAt[name]
			assertEqual(t, "session "+name, e.getSession(s.Hash), storedSession(want))
		}
		if n, err := e.s.RevokeUserSessions(e.ctx, "u1", t0.Add(time.Minute), now.Add(time.Minute)); err != nil || n != 0 {
			t.Errorf("second RevokeUserSessions = %d, %v; want 0", n, err)
		}
		if n, err := e.s.RevokeUserSessions(e.ctx, "nobody", now, now); err != nil || n != 0 {
			t.Errorf("RevokeUserSessions of an unknown user = %d, %v; want 0", n, err)
		}
	}},
}
