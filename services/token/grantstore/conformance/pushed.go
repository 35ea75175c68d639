package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

func samplePushed(name string, at time.Time) grantstore.PushedRequest {
	return grantstore.PushedRequest{
		Hash:     hash("pushed " + name),
		ClientID: "client-" + name,
		// Byte for byte, whatever it holds.
		Params:    "client_id=client-" + name + "&response_type=code&scope=openid+orders%3Aread&state=" + name + "%20ü",
		CreatedAt: at,
		ExpiresAt: at.Add(time.Minute),
	}
}

func storedPushed(p grantstore.PushedRequest) grantstore.PushedRequest {
	p.CreatedAt, p.ExpiresAt, p.UsedAt = norm(p.CreatedAt), norm(p.ExpiresAt), norm(p.UsedAt)
	return p
}

func (e *env) createPushed(p grantstore.PushedRequest) {
	e.t.Helper()
	if err := e.s.CreatePushedRequest(e.ctx, p); err != nil {
		e.t.Fatalf("CreatePushedRequest: %v", err)
	}
}

func (e *env) getPushed(h []byte) grantstore.PushedRequest {
	e.t.Helper()
	p, err := e.s.GetPushedRequest(e.ctx, h)
	if err != nil {
		e.t.Fatalf("GetPushedRequest: %v", err)
	}
	return p
}

var pushedTests = []test{
	{"GetPushedRequest returns the request as created, in UTC to the microsecond, unused", func(t *testing.T, e *env) {
		p := samplePushed("a", t0)
		e.createPushed(p)
		assertEqual(t, "pushed request", e.getPushed(p.Hash), storedPushed(p))
	}},

	{"a pushed request is single use: UsePushedRequest marks it, a second use is ErrUsed and keeps the first time", func(t *testing.T, e *env) {
		p := samplePushed("a", t0)
		e.createPushed(p)
		used := t0.Add(10*time.Second + 999*time.Nanosecond)
		if err := e.s.UsePushedRequest(e.ctx, p.Hash, used); err != nil {
			t.Fatalf("UsePushedRequest: %v", err)
		}
		assertErrorIs(t, e.s.UsePushedRequest(e.ctx, p.Hash, used.Add(time.Second)), grantstore.ErrUsed)
		want := storedPushed(p)
		want.UsedAt = norm(used)
		assertEqual(t, "used pushed request", e.getPushed(p.Hash), want)
	}},

	{"an unknown pushed request is ErrNotFound, to Get and to Use", func(t *testing.T, e *env) {
		e.createPushed(samplePushed("a", t0))
		_, err := e.s.GetPushedRequest(e.ctx, hash("pushed b"))
		assertErrorIs(t, err, grantstore.ErrNotFound)
		assertErrorIs(t, e.s.UsePushedRequest(e.ctx, hash("pushed b"), t0), grantstore.ErrNotFound)
	}},

	{"CreatePushedRequest of a taken hash is ErrExists and the first request stands", func(t *testing.T, e *env) {
		p := samplePushed("a", t0)
		e.createPushed(p)
		other := samplePushed("b", t0)
		other.Hash = p.Hash
		assertErrorIs(t, e.s.CreatePushedRequest(e.ctx, other), grantstore.ErrExists)
		assertEqual(t, "pushed request", e.getPushed(p.Hash), storedPushed(p))
	}},

	{"CreatePushedRequest refuses a hash that is not 32 bytes", func(t *testing.T, e *env) {
		p := samplePushed("a", t0)
		p.Hash = p.Hash[:16]
		err := e.s.CreatePushedRequest(e.ctx, p)
		if err == nil || errors.Is(err, grantstore.ErrExists) {
			t.Fatalf("CreatePushedRequest with a short hash: %v", err)
		}
	}},

	{"concurrent UsePushedRequest: exactly one succeeds, the others get ErrUsed", func(t *testing.T, e *env) {
		p := samplePushed("a", t0)
		e.createPushed(p)
		errs := make([]error, racers)
		race(func(i int) {
			errs[i] = e.s.UsePushedRequest(e.ctx, p.Hash, t0.Add(time.Duration(i+1)*time.Second))
		})
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, grantstore.ErrUsed):
				t.Errorf("use %d: %v, want ErrUsed", i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d uses succeeded, want 1", wins)
		}
	}},

	{"DeleteExpired deletes pushed requests expired by now - keep, used or not, and keeps the others", func(t *testing.T, e *env) {
		old, used, live := samplePushed("old", t0), samplePushed("used", t0), samplePushed("live", t0.Add(time.Hour))
		for _, p := range []grantstore.PushedRequest{old, used, live} {
			e.createPushed(p)
		}
		if err := e.s.UsePushedRequest(e.ctx, used.Hash, t0); err != nil {
			t.Fatal(err)
		}
		if n := e.deleteExpired(t0.Add(time.Minute+time.Hour), time.Hour); n != 2 {
			t.Fatalf("DeleteExpired deleted %d rows, want 2", n)
		}
		for _, h := range [][]byte{old.Hash, used.Hash} {
			_, err := e.s.GetPushedRequest(e.ctx, h)
			assertErrorIs(t, err, grantstore.ErrNotFound)
		}
		assertEqual(t, "live pushed request", e.getPushed(live.Hash), storedPushed(live))
	}},
}
