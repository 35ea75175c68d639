package keys_test

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/kek"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

// TestScheduler runs the Manager's own goroutine in a synctest bubble: time
// there is virtual (time.Sleep advances it at once when every goroutine is
// blocked), so a day of scheduled transitions takes milliseconds and
// nothing depends on real timing. synctest.Test also fails if any
// goroutine of the bubble is left running, so it proves that Close stops
// the scheduler. Subtests cannot run in a bubble: the steps are named in
// their messages instead.
func TestScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &memStore{}
		k := newKEK(t)
		opts := []keys.Option{
			keys.WithRotationInterval(testRotation),
			keys.WithPublishLead(testLead),
			keys.WithRetirePeriod(testRetire),
			keys.WithJWKSMaxAge(testMaxAge),
		}
		m, err := keys.New(store, k, opts...)
		if err != nil {
			t.Fatal(err)
		}
		var changes atomic.Int32
		m.OnChange(func() { changes.Add(1) })
		if err := m.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		k1 := signingKID(t, m)
		var newest string // set by the steps that make a key elsewhere

		steps := []struct {
			name string
			// act runs first; then virtual time moves by sleep and
			// the bubble settles.
			act    func(t *testing.T)
			sleep  time.Duration
			check  func(t *testing.T) string // returns what must sign
			events int32                     // OnChange calls the step causes
		}{
			{
				name:  "a pending key appears when rotation is due",
				sleep: testRotation - testLead + time.Second,
				check: func(t *testing.T) string {
					if n := len(states(t, store)); n != 2 {
						t.Errorf("%d keys, want 2", n)
					}
					return k1
				},
				events: 1,
			},
			{
				name:  "it signs once the lead has passed",
				sleep: testLead,
				check: func(t *testing.T) string {
					for kid, s := range states(t, store) {
						if s == keys.StateActive {
							newest = kid
						}
					}
					if states(t, store)[k1] != keys.StateRetired || newest == k1 {
						t.Error("no switch to the new key")
					}
					return newest
				},
				events: 1,
			},
			{
				name:  "the old key is removed after the retire period",
				sleep: testRetire,
				check: func(t *testing.T) string {
					if states(t, store)[k1] != keys.StateRemoved || contains(jwksKIDs(t, m), k1) {
						t.Error("k1 not removed")
					}
					return newest
				},
				events: 1,
			},
			{
				name: "Notify reloads a change made elsewhere at once",
				act: func(t *testing.T) {
					newest = rotateElsewhere(t, store, k, opts, signingKID(t, m))
					m.Notify()
				},
				sleep:  0, // no time passes: the reload comes from Notify
				check:  func(*testing.T) string { return newest },
				events: 1,
			},
			{
				name: "the poll picks up a change made elsewhere without Notify",
				act: func(t *testing.T) {
					newest = rotateElsewhere(t, store, k, opts, signingKID(t, m))
				},
				sleep:  keys.DefaultPollInterval,
				check:  func(*testing.T) string { return newest },
				events: 1,
			},
		}
		for _, s := range steps {
			before := changes.Load()
			if s.act != nil {
				s.act(t)
			}
			time.Sleep(s.sleep)
			synctest.Wait() // the scheduler has done what was due and waits again
			want := s.check(t)
			if got := signingKID(t, m); got != want {
				t.Errorf("%s: signing with %s, want %s", s.name, short(got), short(want))
			}
			if n := changes.Load() - before; n != s.events {
				t.Errorf("%s: listeners ran %d times, want %d", s.name, n, s.events)
			}
		}
		m.Close()
	})
}

// rotateElsewhere is another replica's emergency rotation.
func rotateElsewhere(t *testing.T, s keys.Store, k *kek.KEK, opts []keys.Option, compromised string) string {
	t.Helper()
	other, err := keys.New(s, k, opts...)
	if err != nil {
		t.Fatal(err)
	}
	nk, err := other.EmergencyRotate(t.Context(), compromised, "")
	if err != nil {
		t.Fatal(err)
	}
	return nk.KID
}

// TestCloseStopsScheduler: Close returns only when the scheduler has
// stopped; synctest.Test fails on a goroutine left behind.
func TestCloseStopsScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := keys.New(&memStore{}, newKEK(t), keys.WithJWKSMaxAge(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour) // a few poll cycles
		m.Close()
	})
}
