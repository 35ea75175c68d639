package conformance

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

var codeTests = []test{
	{"RedeemCode returns the code as created, in UTC to the microsecond, redeemed at now", func(t *testing.T, e *env) {
		c := sampleCode("a", t0)
		e.createCode(c)
		now := t0.Add(30*time.Second + 999*time.Nanosecond)
		got := e.redeem(c.Hash, now)
		want := storedCode(c)
		want.RedeemedAt = norm(now)
		assertEqual(t, "redeemed code", got, want)
	}},

	{"a code is single use: a replay gets ErrCodeRedeemed with the code, redeemed at the first time", func(t *testing.T, e *env) {
		c := sampleCode("a", t0)
		e.createCode(c)
		first := e.redeem(c.Hash, t0.Add(time.Second))
		for _, at := range []time.Duration{time.Second, 2 * time.Second} {
			got, err := e.s.RedeemCode(e.ctx, c.Hash, t0.Add(at))
			assertErrorIs(t, err, grantstore.ErrCodeRedeemed)
			// The caller revokes what the first redemption issued: it
			// needs the family id, and the first redemption's time.
			assertEqual(t, "replayed code", got, first)
		}
	}},

	{"an expired code is refused with ErrExpired and not marked redeemed", func(t *testing.T, e *env) {
		c := sampleCode("a", t0)
		e.createCode(c)
		for _, now := range []time.Time{c.ExpiresAt, c.ExpiresAt.Add(time.Hour), c.ExpiresAt.In(time.UTC)} {
			got, err := e.s.RedeemCode(e.ctx, c.Hash, now)
			assertErrorIs(t, err, grantstore.ErrExpired)
			assertEqual(t, "code returned with ErrExpired", got, grantstore.Code{})
		}
		// Not marked: a clock a microsecond earlier can still redeem
		// it, once.
		before := c.ExpiresAt.Add(-time.Microsecond)
		got := e.redeem(c.Hash, before)
		if want := norm(before); !got.RedeemedAt.Equal(want) {
			t.Errorf("RedeemedAt = %v, want %v", got.RedeemedAt, want)
		}
	}},

	{"a redeemed code replayed after it expired is still a replay", func(t *testing.T, e *env) {
		c := sampleCode("a", t0)
		e.createCode(c)
		first := e.redeem(c.Hash, t0)
		got, err := e.s.RedeemCode(e.ctx, c.Hash, c.ExpiresAt.Add(time.Hour))
		assertErrorIs(t, err, grantstore.ErrCodeRedeemed)
		assertEqual(t, "replayed code", got, first)
	}},

	{"an unknown code is ErrNotFound", func(t *testing.T, e *env) {
		e.createCode(sampleCode("a", t0))
		got, err := e.s.RedeemCode(e.ctx, hash("code b"), t0)
		assertErrorIs(t, err, grantstore.ErrNotFound)
		assertEqual(t, "code returned with ErrNotFound", got, grantstore.Code{})
	}},

	{"CreateCode of a taken hash is ErrExists and the first code stands", func(t *testing.T, e *env) {
		c := sampleCode("a", t0)
		e.createCode(c)
		other := sampleCode("b", t0.Add(time.Second))
		other.Hash = c.Hash
		assertErrorIs(t, e.s.CreateCode(e.ctx, other), grantstore.ErrExists)
		got := e.redeem(c.Hash, t0)
		if got.ClientID != c.ClientID {
			t.Errorf("redeemed the code of %q, want the first one's %q", got.ClientID, c.ClientID)
		}
	}},

	{"codes are independent of each other", func(t *testing.T, e *env) {
		a, b := sampleCode("a", t0), sampleCode("b", t0)
		e.createCode(a)
		e.createCode(b)
		e.redeem(a.Hash, t0)
		got := e.redeem(b.Hash, t0.Add(time.Second))
		if got.ClientID != b.ClientID {
			t.Errorf("redeemed the code of %q, want %q", got.ClientID, b.ClientID)
		}
	}},
}
