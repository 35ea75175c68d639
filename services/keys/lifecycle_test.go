package keys_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/keys"
)

// TestLifecycle walks one set of keys through its whole life on a fake
// clock, on each backend. The steps share the keys and run in order; each
// says what must hold after it.
func TestLifecycle(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			stores, _ := b.open(t, 1)
			store := stores[0]
			clock := newClock()
			pub := &recorder{}
			m := newManager(t, store, newKEK(t), testOptions(clock, keys.WithPublisher(pub))...)

			kid := map[string]string{} // label -> kid
			label := map[string]string{}
			name := func(l, k string) { kid[l], label[k] = k, l }
			var lastVersion int64

			type step struct {
				name string
				do   func(t *testing.T)
				// after the step:
				signer      string            // label of the signing key
				jwks        []string          // labels in the JWKS, in order
				states      map[string]string // label -> state
				events      []string          // label:STATE, in order
				sameVersion bool              // the JWKS version must not move
			}
			steps := []step{
				{
					name:   "first start activates a key at once",
					do:     func(t *testing.T) { start(t, m); name("k1", signingKID(t, m)) },
					signer: "k1", jwks: []string{"k1"},
					states: map[string]string{"k1": "active"},
					events: []string{"k1:ACTIVE"},
				},
				{
					name: "nothing is due before the rotation time",
					do: func(t *testing.T) {
						clock.Advance(testRotation - testLead - time.Second)
						tick(t, m)
					},
					signer: "k1", jwks: []string{"k1"}, sameVersion: true,
				},
				{
					name: "scheduled rotation publishes a pending key that does not sign",
					do: func(t *testing.T) {
						clock.Advance(time.Second)
						tick(t, m)
						for k, s := range states(t, store) {
							if s == keys.StatePending {
								name("k2", k)
							}
						}
						if k := find(t, store, kid["k2"]); !k.ActivateAt.Equal(clock.Now().Add(testLead)) {
							t.Errorf("k2 activates at %v, want now + lead", k.ActivateAt)
						}
					},
					signer: "k1", jwks: []string{"k1", "k2"},
					states: map[string]string{"k1": "active", "k2": "pending"},
					events: []string{"k2:PENDING"},
				},
				{
					name: "the pending key still does not sign just before the lead has passed",
					do: func(t *testing.T) {
						clock.Advance(testLead - time.Second)
						tick(t, m)
					},
					signer: "k1", jwks: []string{"k1", "k2"}, sameVersion: true,
				},
				{
					name: "after the lead the new key signs and the old one retires but stays published",
					do: func(t *testing.T) {
						clock.Advance(time.Second)
						tick(t, m)
						k := find(t, store, kid["k1"])
						if !k.RetiredAt.Equal(clock.Now()) || !k.RemoveAt.Equal(clock.Now().Add(testRetire)) {
							t.Errorf("k1 retired %v, removed at %v; want now, now + retire period", k.RetiredAt, k.RemoveAt)
						}
					},
					signer: "k2", jwks: []string{"k2", "k1"},
					states: map[string]string{"k1": "retired", "k2": "active"},
					events: []string{"k1:RETIRED", "k2:ACTIVE"},
				},
				{
					name: "the retired key stays published until the retire period ends",
					do: func(t *testing.T) {
						clock.Advance(testRetire - time.Second)
						tick(t, m)
					},
					signer: "k2", jwks: []string{"k2", "k1"}, sameVersion: true,
				},
				{
					name: "the retired key is removed after the retire period and its private key deleted",
					do: func(t *testing.T) {
						clock.Advance(time.Second)
						tick(t, m)
						if k := find(t, store, kid["k1"]); k.PrivateKey != nil {
							t.Error("removed key still has its private key")
						}
					},
					signer: "k2", jwks: []string{"k2"},
					states: map[string]string{"k1": "removed", "k2": "active"},
					events: []string{"k1:REMOVED"},
				},
				{
					name: "manual rotation publishes a pending key with the asked algorithm",
					do: func(t *testing.T) {
						k, err := m.Rotate(ctx, "EdDSA")
						if err != nil {
							t.Fatal(err)
						}
						name("k3", k.KID)
						if k.State != keys.StatePending || k.Alg != "EdDSA" || k.PrivateKey != nil {
							t.Errorf("Rotate returned state %s alg %s (private key %v), want a pending EdDSA key without private key", k.State, k.Alg, k.PrivateKey != nil)
						}
					},
					signer: "k2", jwks: []string{"k2", "k3"},
					states: map[string]string{"k2": "active", "k3": "pending"},
					events: []string{"k3:PENDING"},
				},
				{
					name: "the manually rotated key signs after the lead",
					do: func(t *testing.T) {
						clock.Advance(testLead)
						tick(t, m)
						ak, _ := m.SigningKey(ctx)
						if ak.Alg.String() != "EdDSA" {
							t.Errorf("alg %s, want EdDSA", ak.Alg)
						}
					},
					signer: "k3", jwks: []string{"k3", "k2"},
					states: map[string]string{"k2": "retired", "k3": "active"},
					events: []string{"k2:RETIRED", "k3:ACTIVE"},
				},
				{
					name: "emergency rotation drops the compromised key at once and the new key signs at once",
					do: func(t *testing.T) {
						k, err := m.EmergencyRotate(ctx, kid["k3"], "")
						if err != nil {
							t.Fatal(err)
						}
						name("k4", k.KID)
						if k.State != keys.StateActive || k.Alg != "ES256" {
							t.Errorf("new key %s %s, want an active ES256 key", k.State, k.Alg)
						}
						if k := find(t, store, kid["k3"]); k.PrivateKey != nil || !k.RemoveAt.Equal(clock.Now()) {
							t.Errorf("compromised key: private key kept %v, removed at %v; want deleted, now", k.PrivateKey != nil, k.RemoveAt)
						}
					},
					// k2, retired normally, keeps its tokens valid.
					signer: "k4", jwks: []string{"k4", "k2"},
					states: map[string]string{"k2": "retired", "k3": "removed", "k4": "active"},
					events: []string{"k3:REMOVED", "k4:ACTIVE"},
				},
			}
			for _, st := range steps {
				if !t.Run(st.name, func(t *testing.T) {
					st.do(t)
					if got := signingKID(t, m); got != kid[st.signer] {
						t.Errorf("signing with %s, want %s", label[got], st.signer)
					}
					var want []string
					for _, l := range st.jwks {
						want = append(want, kid[l])
					}
					if got := jwksKIDs(t, m); !slices.Equal(got, want) {
						t.Errorf("JWKS has %v, want %v", labels(got, label), st.jwks)
					}
					got := states(t, store)
					for l, s := range st.states {
						if string(got[kid[l]]) != s {
							t.Errorf("%s is %s, want %s", l, got[kid[l]], s)
						}
					}
					_, _, version := m.JWKS()
					events := pub.take(label)
					var wantEvents []string
					for _, e := range st.events {
						wantEvents = append(wantEvents, e+"@"+itoa(version))
					}
					if !slices.Equal(events, wantEvents) {
						t.Errorf("events %v, want %v", events, wantEvents)
					}
					if st.sameVersion != (version == lastVersion) {
						t.Errorf("JWKS version %d after %d; want it to change: %v", version, lastVersion, !st.sameVersion)
					}
					lastVersion = version
				}) {
					t.FailNow()
				}
			}
		})
	}
}

func tick(t *testing.T, m *keys.Manager) {
	t.Helper()
	if err := m.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func labels(kids []string, label map[string]string) []string {
	out := make([]string, len(kids))
	for i, k := range kids {
		out[i] = label[k]
		if out[i] == "" {
			out[i] = short(k)
		}
	}
	return out
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestTransitions covers the transitions the lifecycle walk does not: each
// case starts from a fresh store with one active key at the fake clock's
// start.
func TestTransitions(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, m *keys.Manager, s keys.Store, clock *fakeClock, k1 string)
	}{
		{"a late tick applies every due transition at once", func(t *testing.T, m *keys.Manager, s keys.Store, clock *fakeClock, k1 string) {
			k2 := rotate(t, m, "")
			clock.Advance(testLead)
			tick(t, m) // k2 active, k1 retired
			k3 := rotate(t, m, "")
			// Nobody ticks for long: k3 is due and so is k1's removal.
			clock.Advance(testRetire + time.Hour)
			tick(t, m)
			assertStates(t, s, map[string]keys.State{k1: keys.StateRemoved, k2: keys.StateRetired, k3: keys.StateActive})
			if got := signingKID(t, m); got != k3 {
				t.Errorf("signing with %s, want k3", short(got))
			}
		}},
		{"a manual rotation supersedes a pending key", func(t *testing.T, m *keys.Manager, s keys.Store, clock *fakeClock, k1 string) {
			k2 := rotate(t, m, "ES256")
			clock.Advance(testLead / 2)
			k3 := rotate(t, m, "PS256")
			assertStates(t, s, map[string]keys.State{k1: keys.StateActive, k2: keys.StateRemoved, k3: keys.StatePending})
			if got := jwksKIDs(t, m); !slices.Equal(got, []string{k1, k3}) {
				t.Errorf("JWKS %v, want k1, k3", got)
			}
			clock.Advance(testLead)
			tick(t, m)
			if got := signingKID(t, m); got != k3 {
				t.Errorf("signing with %s, want k3", short(got))
			}
		}},
		{"retiring a key early: only a retired one, and before its removal time only with force", func(t *testing.T, m *keys.Manager, s keys.Store, clock *fakeClock, k1 string) {
			ctx := t.Context()
			if _, err := m.Retire(ctx, k1, true); !errors.Is(err, keys.ErrNotRetired) {
				t.Fatalf("retire the active key: %v, want ErrNotRetired", err)
			}
			k2 := rotate(t, m, "")
			if _, err := m.Retire(ctx, k2, true); !errors.Is(err, keys.ErrNotRetired) {
				t.Fatalf("retire a pending key: %v, want ErrNotRetired", err)
			}
			if _, err := m.Retire(ctx, "no-such-kid", true); !errors.Is(err, keys.ErrNotFound) {
				t.Fatalf("retire an unknown kid: %v, want ErrNotFound", err)
			}
			clock.Advance(testLead)
			tick(t, m) // k2 active, k1 retired until now + testRetire
			var sv *keys.StillVerifyingError
			if _, err := m.Retire(ctx, k1, false); !errors.As(err, &sv) || !sv.Until.Equal(clock.Now().Add(testRetire)) {
				t.Fatalf("retire within the retire period: %v, want StillVerifyingError until now + retire period", err)
			}
			assertStates(t, s, map[string]keys.State{k1: keys.StateRetired, k2: keys.StateActive})
			k, err := m.Retire(ctx, k1, true)
			if err != nil || k.KID != k1 || k.State != keys.StateRemoved || len(k.PrivateKey) != 0 {
				t.Fatalf("forced retire: %+v %v", k, err)
			}
			assertStates(t, s, map[string]keys.State{k1: keys.StateRemoved, k2: keys.StateActive})
			if got := jwksKIDs(t, m); !slices.Equal(got, []string{k2}) {
				t.Errorf("JWKS %v, want k2 alone", got)
			}
			if _, err := m.Retire(ctx, k1, true); !errors.Is(err, keys.ErrKeyRemoved) {
				t.Fatalf("retire twice: %v, want ErrKeyRemoved", err)
			}
			// Without force once the period is over (before the tick
			// that would remove it).
			k3 := rotate(t, m, "")
			clock.Advance(testLead)
			tick(t, m) // k3 active, k2 retired
			clock.Advance(testRetire)
			if _, err := m.Retire(ctx, k2, false); err != nil {
				t.Fatalf("retire after the period: %v", err)
			}
			assertStates(t, s, map[string]keys.State{k1: keys.StateRemoved, k2: keys.StateRemoved, k3: keys.StateActive})
		}},
		{"emergency rotation of a retired key keeps the active key's tokens valid", func(t *testing.T, m *keys.Manager, s keys.Store, clock *fakeClock, k1 string) {
			k2 := rotate(t, m, "")
			clock.Advance(testLead)
			tick(t, m)
			k3, err := m.EmergencyRotate(t.Context(), k1, "RS256")
			if err != nil {
				t.Fatal(err)
			}
			assertStates(t, s, map[string]keys.State{k1: keys.StateRemoved, k2: keys.StateRetired, k3.KID: keys.StateActive})
			if k := find(t, s, k2); !k.RemoveAt.Equal(clock.Now().Add(testRetire)) {
				t.Errorf("k2 removed at %v, want after the full retire period", k.RemoveAt)
			}
		}},
		{"emergency rotation of a pending key", func(t *testing.T, m *keys.Manager, s keys.Store, clock *fakeClock, k1 string) {
			k2 := rotate(t, m, "")
			k3, err := m.EmergencyRotate(t.Context(), k2, "")
			if err != nil {
				t.Fatal(err)
			}
			assertStates(t, s, map[string]keys.State{k1: keys.StateRetired, k2: keys.StateRemoved, k3.KID: keys.StateActive})
			if got := jwksKIDs(t, m); !slices.Equal(got, []string{k3.KID, k1}) {
				t.Errorf("JWKS %v, want k3, k1", got)
			}
		}},
		{"emergency rotation of an unknown or removed kid changes nothing", func(t *testing.T, m *keys.Manager, s keys.Store, clock *fakeClock, k1 string) {
			k2, err := m.EmergencyRotate(t.Context(), k1, "")
			if err != nil {
				t.Fatal(err)
			}
			_, _, before := m.JWKS()
			for _, c := range []struct {
				kid  string
				want error
			}{
				{"no-such-kid", keys.ErrNotFound},
				{"../../etc/passwd' OR 1=1 --", keys.ErrNotFound},
				{strings.Repeat("x", 64<<10), keys.ErrNotFound},
				{k1, keys.ErrKeyRemoved},
			} {
				if _, err := m.EmergencyRotate(t.Context(), c.kid, ""); !errors.Is(err, c.want) {
					t.Errorf("EmergencyRotate(%.20q) = %v, want %v", c.kid, err, c.want)
				}
			}
			if _, _, after := m.JWKS(); after != before || signingKID(t, m) != k2.KID {
				t.Error("a refused emergency rotation changed the keys")
			}
		}},
		{"an unsupported algorithm is refused", func(t *testing.T, m *keys.Manager, s keys.Store, clock *fakeClock, k1 string) {
			for _, alg := range []string{"HS256", "none", "es256", "RS512", "ES384"} {
				if _, err := m.Rotate(t.Context(), alg); !errors.Is(err, keys.ErrUnsupportedAlgorithm) {
					t.Errorf("Rotate(%q) = %v, want ErrUnsupportedAlgorithm", alg, err)
				}
				if _, err := m.EmergencyRotate(t.Context(), k1, alg); !errors.Is(err, keys.ErrUnsupportedAlgorithm) {
					t.Errorf("EmergencyRotate(alg %q) = %v, want ErrUnsupportedAlgorithm", alg, err)
				}
			}
			assertStates(t, s, map[string]keys.State{k1: keys.StateActive})
		}},
		{"automatic rotation can be turned off", func(t *testing.T, _ *keys.Manager, _ keys.Store, clock *fakeClock, _ string) {
			stores, _ := openSQLite(t, 1)
			m := newManager(t, stores[0], newKEK(t), testOptions(clock, keys.WithRotationInterval(0))...)
			start(t, m)
			clock.Advance(365 * 24 * time.Hour)
			tick(t, m)
			if n := len(states(t, stores[0])); n != 1 {
				t.Errorf("%d keys after a year without rotation, want 1", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stores, _ := openSQLite(t, 1)
			clock := newClock()
			m := newManager(t, stores[0], newKEK(t), testOptions(clock)...)
			start(t, m)
			tt.run(t, m, stores[0], clock, signingKID(t, m))
		})
	}
}

func rotate(t *testing.T, m *keys.Manager, alg string) string {
	t.Helper()
	k, err := m.Rotate(t.Context(), alg)
	if err != nil {
		t.Fatal(err)
	}
	return k.KID
}

func assertStates(t *testing.T, s keys.Store, want map[string]keys.State) {
	t.Helper()
	got := states(t, s)
	if len(got) != len(want) {
		t.Errorf("%d keys, want %d", len(got), len(want))
	}
	for kid, st := range want {
		if got[kid] != st {
			t.Errorf("%s is %s, want %s", short(kid), got[kid], st)
		}
	}
}
