package conformance

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/clients"
)

var apiKeyTests = []test{
	{"CreateAPIKey then GetAPIKey round-trips every field", func(t *testing.T, e *env) {
		e.createClient(sampleClient("c1", t0), nil)
		k := clients.APIKey{
			KeyID:       "k1",
			ClientID:    "c1",
			SecretHash:  hashOf("secret"),
			Scopes:      []string{"write", "read"},
			Description: "CI deploys",
			ExpiresAt:   t0.AddDate(1, 0, 0),
			CreatedAt:   t0,
			LastUsedAt:  t0.Add(time.Minute),
			Revoked:     true,
			RevokedAt:   t0.Add(2 * time.Minute),
			ReplacedBy:  "k0",
		}
		if err := e.s.CreateAPIKey(e.ctx, k); err != nil {
			t.Fatal(err)
		}
		assertKey(t, e.getKey("k1"), k)
	}},

	{"CreateAPIKey refuses a taken key_id and a missing client", func(t *testing.T, e *env) {
		e.createClient(sampleClient("c1", t0), nil, sampleKey("k1", "c1", t0, "read"))
		orig := e.getKey("k1")
		dup := sampleKey("k1", "c1", t0.Add(time.Hour), "admin")
		dup.Description = "impostor"
		assertErrorIs(t, e.s.CreateAPIKey(e.ctx, dup), clients.ErrAlreadyExists)
		assertKey(t, e.getKey("k1"), orig)

		assertErrorIs(t, e.s.CreateAPIKey(e.ctx, sampleKey("k2", "nobody", t0)), clients.ErrNotFound)
		if _, err := e.s.GetAPIKey(e.ctx, "k2"); !errors.Is(err, clients.ErrNotFound) {
			t.Errorf("key of a missing client was stored: %v", err)
		}
	}},

	{"ListAPIKeys is newest first and only the client's", func(t *testing.T, e *env) {
		e.createClient(sampleClient("c1", t0), nil,
			sampleKey("k-mid", "c1", t0.Add(time.Minute)),
			sampleKey("k-old", "c1", t0),
			sampleKey("k-new", "c1", t0.Add(time.Hour)))
		e.createClient(sampleClient("c2", t0), nil, sampleKey("k-other", "c2", t0.Add(2*time.Hour)))
		if got, want := e.keyIDs("c1"), []string{"k-new", "k-mid", "k-old"}; !slices.Equal(got, want) {
			t.Errorf("ListAPIKeys(c1) = %v, want %v", got, want)
		}
		if got := e.keyIDs("nobody"); len(got) != 0 {
			t.Errorf("ListAPIKeys(nobody) = %v, want empty", got)
		}
		ks, err := e.s.ListAPIKeys(e.ctx, "nobody")
		if err != nil || ks == nil {
			t.Errorf("ListAPIKeys(nobody) = %#v, %v; want an empty non-nil slice", ks, err)
		}
	}},

	{"UpdateAPIKey revokes", func(t *testing.T, e *env) {
		k := sampleKey("k1", "c1", t0, "read")
		e.createClient(sampleClient("c1", t0), nil, k)
		got, err := e.s.UpdateAPIKey(e.ctx, "k1", func(u *clients.APIKey) error {
			u.Revoked = true
			u.RevokedAt = t0.Add(time.Hour)
			u.Scopes = append(u.Scopes, "admin")
			u.Description = "revoked: leaked"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := k
		want.Revoked, want.RevokedAt = true, t0.Add(time.Hour)
		want.Scopes = []string{"read", "admin"}
		want.Description = "revoked: leaked"
		assertKey(t, got, want)
		assertKey(t, e.getKey("k1"), want)
	}},

	{"UpdateAPIKey returns the closure's error unchanged and writes nothing", func(t *testing.T, e *env) {
		k := sampleKey("k1", "c1", t0, "read")
		e.createClient(sampleClient("c1", t0), nil, k)
		boom := errors.New("boom")
		_, err := e.s.UpdateAPIKey(e.ctx, "k1", func(u *clients.APIKey) error {
			u.Revoked, u.RevokedAt, u.Scopes = true, t0, nil
			return boom
		})
		if err != boom { //nolint:errorlint // the contract returns it unwrapped
			t.Fatalf("err = %v, want the closure's error itself", err)
		}
		assertKey(t, e.getKey("k1"), k)
	}},

	{"UpdateAPIKey of a missing key is ErrNotFound and the closure is not called", func(t *testing.T, e *env) {
		called := false
		_, err := e.s.UpdateAPIKey(e.ctx, "nokey", func(*clients.APIKey) error { called = true; return nil })
		assertErrorIs(t, err, clients.ErrNotFound)
		if called {
			t.Error("closure called for a missing key")
		}
	}},

	{"concurrent UpdateAPIKey calls lose nothing", func(t *testing.T, e *env) {
		const n = 10
		e.createClient(sampleClient("c1", t0), nil, sampleKey("k1", "c1", t0))
		var scopes []clients.Scope
		var want []string
		for i := range n {
			scopes = append(scopes, clients.Scope{Name: fmt.Sprintf("k%02d", i), CreatedAt: t0})
			want = append(want, fmt.Sprintf("k%02d", i))
		}
		if err := e.s.EnsureScopes(e.ctx, scopes); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = e.s.UpdateAPIKey(e.ctx, "k1", func(u *clients.APIKey) error {
					u.Scopes = append(u.Scopes, fmt.Sprintf("k%02d", i))
					return nil
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("update %d: %v", i, err)
			}
		}
		if got := normSet(e.getKey("k1").Scopes); !slices.Equal(got, want) {
			t.Errorf("scopes = %v, want %v", got, want)
		}
	}},

	{"RotateAPIKey shortens the old key's expiry to oldExpiresAt", func(t *testing.T, e *env) {
		grace := t0.Add(24 * time.Hour)
		cases := []struct {
			name         string
			existing     time.Time // old key's ExpiresAt before
			oldExpiresAt time.Time
			want         time.Time
		}{
			{"no expiry yet", time.Time{}, grace, grace},
			{"expiring later", grace.Add(time.Hour), grace, grace},
			{"already expiring sooner", grace.Add(-time.Hour), grace, grace.Add(-time.Hour)},
			{"zero oldExpiresAt keeps no expiry", time.Time{}, time.Time{}, time.Time{}},
			{"zero oldExpiresAt keeps the expiry", grace, time.Time{}, grace},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := e.in(t)
				clientID := fmt.Sprintf("c%d", i)
				old := sampleKey("old-"+clientID, clientID, t0, "read")
				old.ExpiresAt = tc.existing
				e.createClient(sampleClient(clientID, t0), nil, old)

				next := sampleKey("new-"+clientID, clientID, t0.Add(time.Minute), "read", "write")
				next.ExpiresAt = t0.AddDate(1, 0, 0)
				if err := e.s.RotateAPIKey(e.ctx, old.KeyID, next, tc.oldExpiresAt); err != nil {
					t.Fatal(err)
				}
				want := old
				want.ExpiresAt, want.ReplacedBy = tc.want, next.KeyID
				assertKey(t, e.getKey(old.KeyID), want)
				assertKey(t, e.getKey(next.KeyID), next)
				if got := e.keyIDs(clientID); !slices.Equal(got, []string{next.KeyID, old.KeyID}) {
					t.Errorf("keys = %v", got)
				}
			})
		}
	}},

	{"RotateAPIKey is atomic", func(t *testing.T, e *env) {
		old := sampleKey("old", "c1", t0, "read")
		e.createClient(sampleClient("c1", t0), nil, old, sampleKey("taken", "c1", t0))
		taken := e.getKey("taken")

		err := e.s.RotateAPIKey(e.ctx, "old", sampleKey("taken", "c1", t0.Add(time.Minute), "admin"), t0.Add(time.Hour))
		assertErrorIs(t, err, clients.ErrAlreadyExists)
		assertKey(t, e.getKey("old"), old) // no expiry, no ReplacedBy
		assertKey(t, e.getKey("taken"), taken)

		err = e.s.RotateAPIKey(e.ctx, "missing", sampleKey("next", "c1", t0), t0.Add(time.Hour))
		assertErrorIs(t, err, clients.ErrNotFound)
		if _, err := e.s.GetAPIKey(e.ctx, "next"); !errors.Is(err, clients.ErrNotFound) {
			t.Errorf("next key stored although the old one is missing: %v", err)
		}

		bad := sampleKey("next", "c1", t0, "nope")
		assertErrorIs(t, e.s.RotateAPIKey(e.ctx, "old", bad, t0.Add(time.Hour)), clients.ErrNotFound)
		assertKey(t, e.getKey("old"), old)
	}},
}

var touchTests = []test{
	{"TouchAPIKey is throttled and never moves backwards", func(t *testing.T, e *env) {
		k := sampleKey("k1", "c1", t0)
		e.createClient(sampleClient("c1", t0), nil, k)
		t1 := t0.Add(time.Hour)
		steps := []struct {
			name        string
			at          time.Time
			minInterval time.Duration
			want        time.Time
		}{
			{"first use is recorded", t1, time.Minute, t1},
			{"within minInterval changes nothing", t1.Add(30 * time.Second), time.Minute, t1},
			{"exactly minInterval later changes nothing", t1.Add(time.Minute), time.Minute, t1},
			{"after minInterval is recorded", t1.Add(61 * time.Second), time.Minute, t1.Add(61 * time.Second)},
			{"an earlier time changes nothing", t1, 0, t1.Add(61 * time.Second)},
			{"an earlier time with a negative interval changes nothing", t1, -time.Hour, t1.Add(61 * time.Second)},
			{"the same time changes nothing", t1.Add(61 * time.Second), 0, t1.Add(61 * time.Second)},
			{"any later time without throttling is recorded", t1.Add(62 * time.Second), 0, t1.Add(62 * time.Second)},
		}
		for _, st := range steps {
			if err := e.s.TouchAPIKey(e.ctx, "k1", st.at, st.minInterval); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			got := e.getKey("k1")
			if !got.LastUsedAt.Equal(normTime(st.want)) {
				t.Errorf("%s: LastUsedAt = %v, want %v", st.name, got.LastUsedAt, normTime(st.want))
			}
			want := k
			want.LastUsedAt = st.want
			assertKey(t, got, want) // nothing else moved
		}
	}},

	{"TouchAPIKey of an unknown key is not an error", func(t *testing.T, e *env) {
		if err := e.s.TouchAPIKey(e.ctx, "nokey", t0, time.Minute); err != nil {
			t.Errorf("TouchAPIKey(unknown) = %v", err)
		}
	}},
}
