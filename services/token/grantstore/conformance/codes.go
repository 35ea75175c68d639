package conformance

import (
	"errors"
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

	{"ExchangeCode of a code as expected stores its grant with the redemption, as Grant says", func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name string
			edit func(c *grantstore.Code, x *grantstore.CodeExchange)
		}{
			{"bound family and a refresh token", nil},
			{"no refresh token", func(_ *grantstore.Code, x *grantstore.CodeExchange) { x.Refresh = nil }},
			{"unbound family", func(_ *grantstore.Code, x *grantstore.CodeExchange) { x.BindFamily = false }},
			{"a code without a DPoP key, a request with one", func(c *grantstore.Code, _ *grantstore.CodeExchange) { c.DPoPJKT = "" }},
			{"a code and a request without a DPoP key", func(c *grantstore.Code, x *grantstore.CodeExchange) { c.DPoPJKT, x.DPoPJKT = "", "" }},
			{"the idle expiry capped at the family's", func(_ *grantstore.Code, x *grantstore.CodeExchange) {
				x.Refresh.IdleExpiresAt = x.FamilyExpiresAt.Add(time.Hour)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.in(t)
				c := sampleCode(tc.name, t0)
				at := t0.Add(time.Second)
				x := exchangeOf(c, tc.name, at)
				if tc.edit != nil {
					tc.edit(&c, x)
				}
				e.createCode(c)
				got, err := e.s.ExchangeCode(e.ctx, c.Hash, at, x)
				if err != nil {
					t.Fatal(err)
				}
				want := storedCode(c)
				want.RedeemedAt = norm(at)
				assertEqual(t, "exchanged code", got, want)
				f, rt := x.Grant(got, at)
				assertEqual(t, "family", e.getFamily(c.FamilyID), storedFamily(f))
				if rt == nil {
					e.absentRefresh(hash("refresh " + tc.name))
					return
				}
				gotRT, gotF := e.getRefresh(rt.Hash)
				assertEqual(t, "refresh token", gotRT, storedRefresh(*rt))
				assertEqual(t, "its family", gotF, storedFamily(f))
			})
		}
	}},

	{"ExchangeCode of a code not as expected is decided by Check: a refusal spends the code and stores nothing, an acceptance stores the grant", func(t *testing.T, e *env) {
		refused := errors.New("refused by the caller's check")
		for _, tc := range []struct {
			name string
			edit func(x *grantstore.CodeExchange)
		}{
			{"another client", func(x *grantstore.CodeExchange) { x.ClientID = "another" }},
			{"another redirect URI", func(x *grantstore.CodeExchange) { x.RedirectURI += "/other" }},
			{"another challenge", func(x *grantstore.CodeExchange) { x.Challenge = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" }},
			{"another DPoP key", func(x *grantstore.CodeExchange) { x.DPoPJKT = "another-key" }},
			{"no DPoP key", func(x *grantstore.CodeExchange) { x.DPoPJKT = "" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.in(t)
				at := t0.Add(time.Second)
				for _, accept := range []bool{false, true} {
					name := tc.name
					if accept {
						name += " accepted"
					}
					c := sampleCode(name, t0)
					e.createCode(c)
					x := exchangeOf(c, name, at)
					tc.edit(x)
					if x.Matches(c) {
						t.Fatal("the edited exchange still matches the code")
					}
					checked := 0
					x.Check = func(got grantstore.Code) error {
						checked++
						want := storedCode(c)
						want.RedeemedAt = norm(at)
						assertEqual(t, "the code Check gets", got, want)
						if accept {
							return nil
						}
						return refused
					}
					_, err := e.s.ExchangeCode(e.ctx, c.Hash, at, x)
					if checked != 1 {
						t.Fatalf("Check called %d times, want once", checked)
					}
					if accept {
						if err != nil {
							t.Fatal(err)
						}
						f, _ := x.Grant(c, at)
						assertEqual(t, "family", e.getFamily(c.FamilyID), storedFamily(f))
						continue
					}
					assertErrorIs(t, err, refused)
					e.absentFamily(c.FamilyID)
					e.absentRefresh(x.Refresh.Hash)
					if _, err := e.s.RedeemCode(e.ctx, c.Hash, at); !errors.Is(err, grantstore.ErrCodeRedeemed) {
						t.Errorf("after a refused exchange the code is not spent: %v", err)
					}
				}
			})
		}
	}},

	{"ExchangeCode of an unknown, an expired or a spent code as expected stores nothing", func(t *testing.T, e *env) {
		at := t0.Add(time.Second)
		unknown := sampleCode("unknown", t0)
		_, err := e.s.ExchangeCode(e.ctx, unknown.Hash, at, exchangeOf(unknown, "unknown", at))
		assertErrorIs(t, err, grantstore.ErrNotFound)
		e.absentFamily(unknown.FamilyID)

		expired := sampleCode("expired", t0)
		e.createCode(expired)
		late := expired.ExpiresAt
		_, err = e.s.ExchangeCode(e.ctx, expired.Hash, late, exchangeOf(expired, "expired", late))
		assertErrorIs(t, err, grantstore.ErrExpired)
		e.absentFamily(expired.FamilyID)
		// Not spent: an expired code is refused, not redeemed.
		_, err = e.s.RedeemCode(e.ctx, expired.Hash, late)
		assertErrorIs(t, err, grantstore.ErrExpired)

		spent := sampleCode("spent", t0)
		e.createCode(spent)
		first := e.redeem(spent.Hash, at)
		got, err := e.s.ExchangeCode(e.ctx, spent.Hash, at.Add(time.Second), exchangeOf(spent, "spent", at))
		assertErrorIs(t, err, grantstore.ErrCodeRedeemed)
		assertEqual(t, "the spent code", got, first)
		e.absentFamily(spent.FamilyID)
	}},
}

// exchangeOf is an exchange that expects c, with a bound family and a
// refresh token named name; its Check accepts what matches.
func exchangeOf(c grantstore.Code, name string, at time.Time) *grantstore.CodeExchange {
	x := &grantstore.CodeExchange{
		ClientID: c.ClientID, RedirectURI: c.RedirectURI, Challenge: c.Challenge, DPoPJKT: c.DPoPJKT,
		FamilyExpiresAt: at.Add(familyLifetime), BindFamily: true,
		Refresh: &grantstore.Refresh{Hash: hash("refresh " + name), IdleExpiresAt: at.Add(idleTimeout)},
	}
	x.Check = func(c grantstore.Code) error {
		if !x.Matches(c) {
			return errors.New("not the code expected")
		}
		return nil
	}
	return x
}
