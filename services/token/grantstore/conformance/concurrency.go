package conformance

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// racers is how many goroutines race for one code or token.
const racers = 8

// race runs fn(i) for i in [0, racers) at once: the goroutines start
// together, so their transactions overlap.
func race(fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

var concurrencyTests = []test{
	{"concurrent RedeemCode: exactly one succeeds, the others get ErrCodeRedeemed with the code", func(t *testing.T, e *env) {
		c := sampleCode("a", t0)
		e.createCode(c)
		codes := make([]grantstore.Code, racers)
		errs := make([]error, racers)
		race(func(i int) {
			codes[i], errs[i] = e.s.RedeemCode(e.ctx, c.Hash, t0.Add(time.Duration(i+1)*time.Second))
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("redemptions %d and %d both succeeded", winner, i)
				}
				winner = i
			case !errors.Is(err, grantstore.ErrCodeRedeemed):
				t.Errorf("redemption %d: %v, want ErrCodeRedeemed", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no redemption succeeded")
		}
		// Every loser saw the winner's redemption.
		for i, c := range codes {
			if !c.RedeemedAt.Equal(codes[winner].RedeemedAt) {
				t.Errorf("redemption %d got RedeemedAt %v, the winner's is %v", i, c.RedeemedAt, codes[winner].RedeemedAt)
			}
		}
	}},

	{"concurrent ExchangeCode, 50 rounds of 16: exactly one stores its grant, the others get ErrCodeRedeemed after it", func(t *testing.T, e *env) {
		const rounds, exchangers = 50, 16
		for round := range rounds {
			c := sampleCode(fmt.Sprintf("round %d", round), t0)
			e.createCode(c)
			errs := make([]error, exchangers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range exchangers {
				wg.Go(func() {
					<-start
					_, errs[i] = e.s.ExchangeCode(e.ctx, c.Hash, t0.Add(time.Second), exchangeOf(c, fmt.Sprintf("round %d by %d", round, i), t0.Add(time.Second)))
					if errs[i] == nil {
						// The winner's grant is there when it returns.
						if _, err := e.s.GetFamily(e.ctx, c.FamilyID); err != nil {
							errs[i] = fmt.Errorf("the winner's family: %w", err)
						}
					}
				})
			}
			close(start)
			wg.Wait()
			won := 0
			for i, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, grantstore.ErrCodeRedeemed):
					t.Fatalf("round %d, exchange %d: %v, want ErrCodeRedeemed", round, i, err)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d exchanges succeeded, want exactly 1", round, won)
			}
		}
	}},

	{"concurrent RotateRefresh of one token: exactly one succeeds, the others get ErrRefreshReused, the family ends revoked", func(t *testing.T, e *env) {
		f := sampleFamily("f1", "c1", "u1", t0)
		a := sampleRefresh("a", f.ID, t0)
		e.createFamily(f, &a)
		nexts := make([]grantstore.Refresh, racers)
		errs := make([]error, racers)
		fams := make([]grantstore.Family, racers)
		race(func(i int) {
			nexts[i] = sampleRefresh(fmt.Sprintf("next %d", i), f.ID, t1)
			fams[i], _, errs[i] = e.s.RotateRefresh(e.ctx, a.Hash, owner(f), nexts[i], t1.Add(time.Duration(i)*time.Second))
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("rotations %d and %d both succeeded", winner, i)
				}
				winner = i
			case !errors.Is(err, grantstore.ErrRefreshReused):
				t.Errorf("rotation %d: %v, want ErrRefreshReused", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no rotation succeeded")
		}
		got := e.getFamily(f.ID)
		if got.RevokedAt.IsZero() || got.RevokeReason != grantstore.ReasonRefreshReuse {
			t.Errorf("family revoked at %v for %q, want revoked for %q", got.RevokedAt, got.RevokeReason, grantstore.ReasonRefreshReuse)
		}
		for i, err := range errs {
			if err != nil && !reflect.DeepEqual(fams[i], got) {
				t.Errorf("rotation %d returned family %+v, want it as revoked: %+v", i, fams[i], got)
			}
		}
		// Only the winner's next token was stored.
		for i, next := range nexts {
			if i == winner {
				e.getRefresh(next.Hash)
			} else {
				e.absentRefresh(next.Hash)
			}
		}
	}},

	{"concurrent rotations of separate families all succeed", func(t *testing.T, e *env) {
		const steps = 10
		errs := make([]error, racers)
		race(func(i int) {
			id := fmt.Sprintf("f%d", i)
			prev := sampleRefresh(id+" 0", id, t0)
			f := sampleFamily(id, "c1", "u1", t0)
			if errs[i] = e.s.CreateFamily(e.ctx, f, &prev); errs[i] != nil {
				return
			}
			for step := 1; step <= steps; step++ {
				at := t0.Add(time.Duration(step) * time.Minute)
				next := sampleRefresh(fmt.Sprintf("%s %d", id, step), id, at)
				if _, _, errs[i] = e.s.RotateRefresh(e.ctx, prev.Hash, owner(f), next, at); errs[i] != nil {
					return
				}
				prev = next
			}
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}},

	{"concurrent bulk revocations by user and by client revoke each family once", func(t *testing.T, e *env) {
		// Every family is both u1's and c1's: the two kinds of bulk
		// revocation overlap completely.
		const families = 40
		var want []string
		for i := range families {
			id := fmt.Sprintf("f%02d", i)
			rt := sampleRefresh(id, id, t0)
			e.createFamily(sampleFamily(id, "c1", "u1", t0.Add(time.Duration(families-i)*time.Second)), &rt)
			want = append(want, id)
		}
		got := make([][]grantstore.Family, racers)
		errs := make([]error, racers)
		race(func(i int) {
			now := t1.Add(time.Duration(i) * time.Second)
			if i%2 == 0 {
				got[i], errs[i] = e.s.RevokeUserFamilies(e.ctx, "u1", "user", t1, now)
			} else {
				got[i], errs[i] = e.s.RevokeClientFamilies(e.ctx, "c1", "client", t1, now)
			}
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range racers {
			for _, f := range got[i] {
				ids = append(ids, f.ID)
				if stored := e.getFamily(f.ID); stored.RevokedAt != f.RevokedAt || stored.RevokeReason != f.RevokeReason {
					t.Errorf("call %d returned %s revoked %v %q, stored %v %q", i, f.ID, f.RevokedAt, f.RevokeReason, stored.RevokedAt, stored.RevokeReason)
				}
			}
		}
		slices.Sort(ids)
		if !slices.Equal(ids, want) {
			t.Errorf("revoked %v, want each of %v exactly once", ids, want)
		}
	}},
}
