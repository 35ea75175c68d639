package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/keys"
)

// NewStores returns n stores over one new, empty, migrated database, each
// with its own connection pool, as n processes would have; it arranges
// cleanup with t.Cleanup.
type NewStores func(t *testing.T, n int) []keys.Store

// Run tests a keys.Store implementation against the contract, and its
// keys.CAStore methods when it has them (the CA cases are skipped when it
// does not). Each leaf subtest calls newStores once.
func Run(t *testing.T, newStores NewStores) {
	for _, tt := range slices.Concat(tests, caTests) {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, &env{t: t, ctx: t.Context(), new: newStores})
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, e *env)
}

type env struct {
	t   *testing.T
	ctx context.Context
	new NewStores
}

func (e *env) store() keys.Store { return e.new(e.t, 1)[0] }

// zone is deliberately not UTC: stores must hand back UTC whatever they
// were given.
var zone = time.FixedZone("UTC+05:30", 5*3600+30*60)

// t0 carries nanoseconds, which every backend truncates to microseconds.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 123456789, zone)

func sample(kid string, state keys.State, created time.Time) keys.Key {
	k := keys.Key{
		KID:        kid,
		Alg:        "ES256",
		State:      state,
		PublicJWK:  []byte(`{"kty":"EC","crv":"P-256","kid":"` + kid + `","x":"x","y":"y"}`),
		PrivateKey: []byte("sealed:" + kid),
		CreatedAt:  created,
	}
	switch state {
	case keys.StatePending:
		k.ActivateAt = created.Add(time.Hour)
	case keys.StateActive:
		k.ActivateAt = created
	case keys.StateRetired:
		k.ActivateAt, k.RetiredAt, k.RemoveAt = created, created.Add(time.Hour), created.Add(2*time.Hour)
	case keys.StateRemoved:
		k.ActivateAt, k.RetiredAt, k.RemoveAt = created, created.Add(time.Hour), created.Add(2*time.Hour)
		k.PrivateKey = nil
	}
	return k
}

// stored is k as a store hands it back.
func stored(k keys.Key, version int64) keys.Key {
	norm := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.UTC().Truncate(time.Microsecond)
	}
	k.CreatedAt, k.ActivateAt, k.RetiredAt, k.RemoveAt = norm(k.CreatedAt), norm(k.ActivateAt), norm(k.RetiredAt), norm(k.RemoveAt)
	if len(k.PrivateKey) == 0 {
		k.PrivateKey = nil
	}
	k.Version = version
	return k
}

func insert(ks ...keys.Key) func([]keys.Key) (keys.Changes, error) {
	return func([]keys.Key) (keys.Changes, error) { return keys.Changes{Insert: ks}, nil }
}

func (e *env) mustUpdate(s keys.Store, fn func([]keys.Key) (keys.Changes, error)) int64 {
	e.t.Helper()
	v, err := s.Update(e.ctx, fn)
	if err != nil {
		e.t.Fatalf("Update: %v", err)
	}
	return v
}

func (e *env) list(s keys.Store) []keys.Key {
	e.t.Helper()
	ks, err := s.List(e.ctx)
	if err != nil {
		e.t.Fatalf("List: %v", err)
	}
	return ks
}

func assertKeys(t *testing.T, got []keys.Key, want ...keys.Key) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d keys %v, want %d %v", len(got), kids(got), len(want), kids(want))
	}
	for i := range want {
		if diff := keyDiff(got[i], want[i]); diff != "" {
			t.Errorf("key %d (%s): %s", i, want[i].KID, diff)
		}
	}
}

func keyDiff(got, want keys.Key) string {
	var d []string
	check := func(name string, ok bool, g, w any) {
		if !ok {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	check("KID", got.KID == want.KID, got.KID, want.KID)
	check("Alg", got.Alg == want.Alg, got.Alg, want.Alg)
	check("State", got.State == want.State, got.State, want.State)
	check("PublicJWK", bytes.Equal(got.PublicJWK, want.PublicJWK), string(got.PublicJWK), string(want.PublicJWK)) // not-secret: public keys
	samePrivate := bytes.Equal(got.PrivateKey, want.PrivateKey)                                                   // not-secret: what the store returned, in a test suite
	check("PrivateKey", samePrivate && (got.PrivateKey == nil) == (want.PrivateKey == nil), got.PrivateKey, want.PrivateKey)
	for _, f := range []struct {
		name string
		g, w time.Time
	}{
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"ActivateAt", got.ActivateAt, want.ActivateAt},
		{"RetiredAt", got.RetiredAt, want.RetiredAt},
		{"RemoveAt", got.RemoveAt, want.RemoveAt},
	} {
		// The location too: UTC is part of the contract.
		check(f.name, f.g.Equal(f.w) && f.g.Location() == f.w.Location(), f.g, f.w)
	}
	check("Version", got.Version == want.Version, got.Version, want.Version)
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func kids(ks []keys.Key) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.KID + ":" + string(k.State)
	}
	return out
}

func assertErrorIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

var tests = []test{
	{"List of an empty store is empty", func(t *testing.T, e *env) {
		ks := e.list(e.store())
		if ks == nil || len(ks) != 0 {
			t.Fatalf("List = %#v, want an empty slice", ks)
		}
	}},

	{"Insert round-trips every field in UTC to the microsecond", func(t *testing.T, e *env) {
		s := e.store()
		ks := []keys.Key{
			sample("retired", keys.StateRetired, t0),
			sample("active", keys.StateActive, t0.Add(time.Second)),
			sample("pending", keys.StatePending, t0.Add(2*time.Second)),
			sample("removed", keys.StateRemoved, t0.Add(-time.Second)),
		}
		ks[1].Alg, ks[2].Alg, ks[3].Alg = "EdDSA", "PS256", "RS256"
		if v := e.mustUpdate(s, insert(ks...)); v != 1 {
			t.Errorf("version = %d, want 1", v)
		}
		assertKeys(t, e.list(s), stored(ks[2], 1), stored(ks[1], 1), stored(ks[0], 1), stored(ks[3], 1))
	}},

	{"Zero times stay zero", func(t *testing.T, e *env) {
		s := e.store()
		k := sample("p", keys.StatePending, t0)
		k.ActivateAt = time.Time{}
		e.mustUpdate(s, insert(k))
		assertKeys(t, e.list(s), stored(k, 1))
	}},

	{"List is newest first, then by kid", func(t *testing.T, e *env) {
		s := e.store()
		e.mustUpdate(s, insert(
			sample("b", keys.StateRetired, t0),
			sample("c", keys.StateRemoved, t0.Add(time.Hour)),
			sample("a", keys.StateRetired, t0),
			sample("d", keys.StateActive, t0.Add(-time.Hour)),
		))
		got := e.list(s)
		var order []string
		for _, k := range got {
			order = append(order, k.KID)
		}
		if want := []string{"c", "a", "b", "d"}; !slices.Equal(order, want) {
			t.Fatalf("order = %v, want %v", order, want)
		}
	}},

	{"fn sees the current keys", func(t *testing.T, e *env) {
		s := e.store()
		a := sample("a", keys.StateActive, t0)
		e.mustUpdate(s, insert(a))
		e.mustUpdate(s, func(cur []keys.Key) (keys.Changes, error) {
			assertKeys(t, cur, stored(a, 1))
			return keys.Changes{}, nil
		})
	}},

	{"Update writes the mutable fields only", func(t *testing.T, e *env) {
		s := e.store()
		a := sample("a", keys.StateActive, t0)
		e.mustUpdate(s, insert(a))
		changed := a
		changed.State = keys.StateRetired
		changed.RetiredAt = t0.Add(time.Minute)
		changed.RemoveAt = t0.Add(time.Hour)
		changed.ActivateAt = t0.Add(time.Second)
		changed.PrivateKey = []byte("resealed")
		// Immutable: must be ignored.
		changed.Alg = "RS256"
		changed.PublicJWK = []byte(`{"kty":"oct","k":"c2VjcmV0"}`)
		changed.CreatedAt = t0.Add(-time.Hour)
		e.mustUpdate(s, func([]keys.Key) (keys.Changes, error) {
			return keys.Changes{Update: []keys.Key{changed}}, nil
		})
		want := changed
		want.Alg, want.PublicJWK, want.CreatedAt = a.Alg, a.PublicJWK, a.CreatedAt
		assertKeys(t, e.list(s), stored(want, 2))
	}},

	{"Removing a key deletes its private key", func(t *testing.T, e *env) {
		s := e.store()
		a := sample("a", keys.StateRetired, t0)
		e.mustUpdate(s, insert(a))
		r := a
		r.State, r.RemoveAt, r.PrivateKey = keys.StateRemoved, t0.Add(3*time.Hour), nil
		e.mustUpdate(s, func([]keys.Key) (keys.Changes, error) { return keys.Changes{Update: []keys.Key{r}}, nil })
		got := e.list(s)
		if got[0].PrivateKey != nil {
			t.Fatalf("PrivateKey = %q after removal, want nil", got[0].PrivateKey)
		}
		assertKeys(t, got, stored(r, 2))
	}},

	{"Versions count the Updates that wrote something", func(t *testing.T, e *env) {
		s := e.store()
		if v := e.mustUpdate(s, func([]keys.Key) (keys.Changes, error) { return keys.Changes{}, nil }); v != 0 {
			t.Errorf("empty Update of an empty store: version %d, want 0", v)
		}
		e.mustUpdate(s, insert(sample("a", keys.StateActive, t0)))
		e.mustUpdate(s, insert(sample("b", keys.StatePending, t0.Add(time.Second))))
		if v := e.mustUpdate(s, func([]keys.Key) (keys.Changes, error) { return keys.Changes{}, nil }); v != 2 {
			t.Errorf("empty Update: version %d, want the current 2", v)
		}
		got := e.list(s)
		if got[0].Version != 2 || got[1].Version != 1 {
			t.Errorf("versions %d, %d, want 2, 1: each row keeps the version of its last change", got[0].Version, got[1].Version)
		}
	}},

	{"A taken kid is ErrAlreadyExists and nothing is written", func(t *testing.T, e *env) {
		s := e.store()
		orig := sample("a", keys.StateRetired, t0)
		e.mustUpdate(s, insert(orig))
		_, err := s.Update(e.ctx, insert(sample("new", keys.StatePending, t0), sample("a", keys.StatePending, t0.Add(time.Hour))))
		assertErrorIs(t, err, keys.ErrAlreadyExists)
		assertKeys(t, e.list(s), stored(orig, 1))
	}},

	{"A second active key is ErrAlreadyExists and nothing is written", func(t *testing.T, e *env) {
		s := e.store()
		a := sample("a", keys.StateActive, t0)
		p := sample("p", keys.StatePending, t0.Add(time.Second))
		e.mustUpdate(s, insert(a, p))
		tests := []struct {
			name string
			ch   keys.Changes
		}{
			{"insert", keys.Changes{Insert: []keys.Key{sample("b", keys.StateActive, t0.Add(time.Hour))}}},
			{"update", keys.Changes{Update: []keys.Key{{KID: "p", State: keys.StateActive, PrivateKey: []byte("x"), ActivateAt: t0}}}},
			{"two inserts", keys.Changes{Insert: []keys.Key{sample("b", keys.StateActive, t0), sample("c", keys.StateActive, t0)}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := s.Update(e.ctx, func([]keys.Key) (keys.Changes, error) { return tt.ch, nil })
				assertErrorIs(t, err, keys.ErrAlreadyExists)
				assertKeys(t, e.list(s), stored(p, 1), stored(a, 1))
			})
		}
	}},

	{"Swapping the active key succeeds whatever the order of the changes", func(t *testing.T, e *env) {
		s := e.store()
		a := sample("a", keys.StateActive, t0)
		p := sample("p", keys.StatePending, t0.Add(time.Second))
		e.mustUpdate(s, insert(a, p))
		now := t0.Add(time.Hour)
		promote := p
		promote.State, promote.ActivateAt = keys.StateActive, now
		demote := a
		demote.State, demote.RetiredAt, demote.RemoveAt = keys.StateRetired, now, now.Add(time.Hour)
		// Promotion listed first: the store must demote first.
		e.mustUpdate(s, func([]keys.Key) (keys.Changes, error) {
			return keys.Changes{Update: []keys.Key{promote, demote}}, nil
		})
		assertKeys(t, e.list(s), stored(promote, 2), stored(demote, 2))

		// Emergency shape: a new active key inserted while the old one
		// is removed in the same Update.
		fresh := sample("n", keys.StateActive, now)
		gone := promote
		gone.State, gone.RetiredAt, gone.RemoveAt, gone.PrivateKey = keys.StateRemoved, now, now, nil
		e.mustUpdate(s, func([]keys.Key) (keys.Changes, error) {
			return keys.Changes{Insert: []keys.Key{fresh}, Update: []keys.Key{gone}}, nil
		})
		assertKeys(t, e.list(s), stored(fresh, 3), stored(gone, 3), stored(demote, 2))
	}},

	{"An update of an unknown kid is ErrNotFound and nothing is written", func(t *testing.T, e *env) {
		s := e.store()
		a := sample("a", keys.StateActive, t0)
		e.mustUpdate(s, insert(a))
		_, err := s.Update(e.ctx, func([]keys.Key) (keys.Changes, error) {
			return keys.Changes{
				Insert: []keys.Key{sample("b", keys.StatePending, t0)},
				Update: []keys.Key{sample("ghost", keys.StateRetired, t0)},
			}, nil
		})
		assertErrorIs(t, err, keys.ErrNotFound)
		assertKeys(t, e.list(s), stored(a, 1))
	}},

	{"An error from fn is returned unchanged and nothing is written", func(t *testing.T, e *env) {
		s := e.store()
		boom := errors.New("boom")
		_, err := s.Update(e.ctx, func([]keys.Key) (keys.Changes, error) {
			return keys.Changes{Insert: []keys.Key{sample("a", keys.StateActive, t0)}}, boom
		})
		if err != boom { //nolint:errorlint // the contract returns it unwrapped
			t.Fatalf("err = %v, want boom unchanged", err)
		}
		assertKeys(t, e.list(s))
	}},

	{"Private key presence must match the state", func(t *testing.T, e *env) {
		s := e.store()
		removedWithKey := sample("r", keys.StateRemoved, t0)
		removedWithKey.PrivateKey = []byte("sealed")
		activeWithout := sample("a", keys.StateActive, t0)
		activeWithout.PrivateKey = nil
		pendingEmpty := sample("p", keys.StatePending, t0)
		pendingEmpty.PrivateKey = []byte{}
		for _, k := range []keys.Key{removedWithKey, activeWithout, pendingEmpty} {
			if _, err := s.Update(e.ctx, insert(k)); err == nil {
				t.Errorf("%s key with private key %q was accepted", k.State, k.PrivateKey)
			}
		}
		assertKeys(t, e.list(s))
	}},

	{"Unknown states and algorithms are refused", func(t *testing.T, e *env) {
		s := e.store()
		badState := sample("s", "compromised", t0)
		badAlg := sample("a", keys.StatePending, t0)
		badAlg.Alg = "HS256"
		for _, k := range []keys.Key{badState, badAlg} {
			if _, err := s.Update(e.ctx, insert(k)); err == nil {
				t.Errorf("key with state %q alg %q was accepted", k.State, k.Alg)
			}
		}
		assertKeys(t, e.list(s))
	}},

	{"Concurrent check-then-insert makes exactly one active key", func(t *testing.T, e *env) {
		ensureConcurrently(t, e, e.store())
	}},

	{"Concurrent check-then-insert through two handles makes exactly one active key", func(t *testing.T, e *env) {
		stores := e.new(t, 2)
		ensureConcurrently(t, e, stores...)
	}},

	{"Concurrent Updates are serialised", func(t *testing.T, e *env) {
		stores := e.new(t, 2)
		const n = 20
		var wg sync.WaitGroup
		versions := make([]int64, n)
		for i := range n {
			wg.Go(func() {
				v, err := stores[i%2].Update(e.ctx, func(cur []keys.Key) (keys.Changes, error) {
					// Depends on what fn saw: a lost update would
					// leave a gap or a duplicate below.
					return keys.Changes{Insert: []keys.Key{sample(fmt.Sprintf("k%02d", len(cur)), keys.StateRetired, t0.Add(time.Duration(len(cur))*time.Second))}}, nil
				})
				if err != nil {
					t.Error(err)
				}
				versions[i] = v
			})
		}
		wg.Wait()
		got := e.list(stores[0])
		if len(got) != n {
			t.Fatalf("%d keys, want %d: %v", len(got), n, kids(got))
		}
		slices.Sort(versions)
		for i, v := range versions {
			if v != int64(i+1) {
				t.Fatalf("versions %v, want 1..%d each once", versions, n)
			}
		}
	}},
}

// ensureConcurrently runs 20 first starts at once, spread over stores on
// one database: each checks for an active key and inserts one if there is
// none.
func ensureConcurrently(t *testing.T, e *env, stores ...keys.Store) {
	t.Helper()
	const n = 20
	var wg sync.WaitGroup
	created := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			_, err := stores[i%len(stores)].Update(e.ctx, func(cur []keys.Key) (keys.Changes, error) {
				for _, k := range cur {
					if k.State == keys.StateActive {
						return keys.Changes{}, nil
					}
				}
				created <- fmt.Sprint(i)
				return keys.Changes{Insert: []keys.Key{sample(fmt.Sprintf("k%02d", i), keys.StateActive, t0)}}, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(created)
	if c := len(created); c != 1 {
		t.Errorf("%d Updates found no active key, want 1", c)
	}
	got := e.list(stores[0])
	if len(got) != 1 || got[0].State != keys.StateActive {
		t.Fatalf("keys = %v, want exactly one active key", kids(got))
	}
}
