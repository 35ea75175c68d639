package conformance

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/clients"
)

var clientTests = []test{
	{"CreateClient then GetClient round-trips every field", func(t *testing.T, e *env) {
		c := sampleClient("c1", t0)
		e.createClient(c, nil)
		assertClient(t, e.getClient("c1"), c)
	}},

	{"CreateClient stores the secret and initial keys", func(t *testing.T, e *env) {
		c := sampleClient("c1", t0)
		sec := sampleSecret("c1", t0)
		k1 := sampleKey("k1", "c1", t0, "read")
		k2 := sampleKey("k2", "c1", t0.Add(time.Second), "read", "write")
		k2.ExpiresAt = t0.AddDate(0, 3, 0)
		e.createClient(c, &sec, k1, k2)

		assertClient(t, e.getClient("c1"), c)
		assertSecrets(t, e.secrets("c1"), sec)
		assertKey(t, e.getKey("k1"), k1)
		assertKey(t, e.getKey("k2"), k2)
	}},

	{"CreateClient without secret or keys", func(t *testing.T, e *env) {
		c := sampleClient("public", t0)
		c.Public, c.AuthMethod = true, clients.AuthNone
		e.createClient(c, nil)
		assertClient(t, e.getClient("public"), c)
		assertSecrets(t, e.secrets("public"))
		if ks := e.keyIDs("public"); len(ks) != 0 {
			t.Errorf("keys = %v, want none", ks)
		}
	}},

	{"CreateClient refuses a taken client_id and keeps the original", func(t *testing.T, e *env) {
		orig := sampleClient("c1", t0)
		sec := sampleSecret("c1", t0)
		e.createClient(orig, &sec)
		dup := sampleClient("c1", t0.Add(time.Hour))
		dup.Name = "impostor"
		dupSec := sampleSecret("c1", t0.Add(time.Hour))
		err := e.s.CreateClient(e.ctx, dup, &dupSec, sampleKey("k-dup", "c1", t0))
		assertErrorIs(t, err, clients.ErrAlreadyExists)
		assertClient(t, e.getClient("c1"), orig)
		assertSecrets(t, e.secrets("c1"), sec)
		if _, err := e.s.GetAPIKey(e.ctx, "k-dup"); !errors.Is(err, clients.ErrNotFound) {
			t.Errorf("key of the refused create was stored: %v", err)
		}
	}},

	{"CreateClient is all or nothing", func(t *testing.T, e *env) {
		e.createClient(sampleClient("other", t0), nil, sampleKey("taken", "other", t0, "admin"))
		otherKey := e.getKey("taken")

		cases := []struct {
			name   string
			keys   []clients.APIKey
			scopes []string
			want   error
		}{
			{"key_id taken by another client", []clients.APIKey{
				sampleKey("fresh", "new", t0, "read"), sampleKey("taken", "new", t0, "read"),
			}, nil, clients.ErrAlreadyExists},
			{"key_id repeated within the call", []clients.APIKey{
				sampleKey("twice", "new", t0), sampleKey("twice", "new", t0.Add(time.Second)),
			}, nil, clients.ErrAlreadyExists},
			{"a key has a scope outside the catalogue", []clients.APIKey{
				sampleKey("fresh", "new", t0, "read"), sampleKey("bad", "new", t0, "nope"),
			}, nil, clients.ErrNotFound},
			{"the client has a scope outside the catalogue", []clients.APIKey{
				sampleKey("fresh", "new", t0, "read"),
			}, []string{"read", "nope"}, clients.ErrNotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := e.in(t)
				c := sampleClient("new", t0)
				if tc.scopes != nil {
					c.Scopes = tc.scopes
				}
				sec := sampleSecret("new", t0)
				err := e.s.CreateClient(e.ctx, c, &sec, tc.keys...)
				assertErrorIs(t, err, tc.want)
				e.assertNoClient("new")
				for _, k := range tc.keys {
					if k.KeyID == "taken" {
						continue
					}
					if _, err := e.s.GetAPIKey(e.ctx, k.KeyID); !errors.Is(err, clients.ErrNotFound) {
						t.Errorf("key %q of the failed create: %v, want ErrNotFound", k.KeyID, err)
					}
				}
				assertKey(t, e.getKey("taken"), otherKey)
			})
		}
		// Nothing was left behind that would make a clean create fail.
		sec := sampleSecret("new", t0)
		e.createClient(sampleClient("new", t0), &sec, sampleKey("fresh", "new", t0))
	}},
}

var listTests = []test{
	{"pages over the cursor in (CreatedAt, ID) order", func(t *testing.T, e *env) {
		// 23 clients, inserted in random order, in runs sharing a
		// timestamp, some differing only below the microsecond (equal once
		// stored). IDs are shuffled against creation order so that the ID
		// tie-break is what orders each run.
		const n = 23
		rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // a fixed, repeatable shuffle; nothing secret
		type entry struct {
			id      string
			created time.Time
		}
		var all []entry
		for i, p := range rng.Perm(n) {
			created := t0.Add(time.Duration(i/4) * time.Second)
			if i%4 == 3 {
				created = created.Add(100 * time.Nanosecond) // same microsecond as its run
			}
			if i == n-1 {
				created = t0.Add(-time.Microsecond) // first of all
			}
			all = append(all, entry{fmt.Sprintf("client-%02d", p), created})
		}
		for _, i := range rng.Perm(n) {
			e.createClient(sampleClient(all[i].id, all[i].created), nil)
		}
		slices.SortFunc(all, func(a, b entry) int {
			return cmp.Or(normTime(a.created).Compare(normTime(b.created)), cmp.Compare(a.id, b.id))
		})
		var want []string
		for _, en := range all {
			want = append(want, en.id)
		}

		for _, limit := range []int{1, 3, 4, 5, 22, 23, 24, 100} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				e := e.in(t)
				var (
					got   []string
					after *clients.ClientCursor
				)
				for page := 0; ; page++ {
					if page > n+1 {
						t.Fatal("pagination does not end")
					}
					cs, err := e.s.ListClients(e.ctx, after, limit)
					if err != nil {
						t.Fatal(err)
					}
					if cs == nil {
						t.Fatal("ListClients returned a nil slice")
					}
					if len(cs) > limit {
						t.Fatalf("page %d has %d clients, limit %d", page, len(cs), limit)
					}
					for _, c := range cs {
						got = append(got, c.ID)
					}
					if len(cs) < limit {
						break
					}
					last := cs[len(cs)-1]
					// The cursor's zone must not matter.
					after = &clients.ClientCursor{CreatedAt: last.CreatedAt.In(zone), ID: last.ID}
				}
				if !slices.Equal(got, want) {
					t.Errorf("pages:\n got %v\nwant %v", got, want)
				}
			})
		}

		t.Run("cursor at a deleted client", func(t *testing.T) {
			e := e.in(t)
			at := e.getClient(want[10])
			if err := e.s.DeleteClient(e.ctx, at.ID); err != nil {
				t.Fatal(err)
			}
			cs, err := e.s.ListClients(e.ctx, &clients.ClientCursor{CreatedAt: at.CreatedAt, ID: at.ID}, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) != 2 || cs[0].ID != want[11] || cs[1].ID != want[12] {
				t.Errorf("page after deleted %s = %v, want [%s %s]", at.ID, ids(cs), want[11], want[12])
			}
		})
	}},

	{"returns whole clients", func(t *testing.T, e *env) {
		c := sampleClient("c1", t0)
		e.createClient(c, nil)
		cs, err := e.s.ListClients(e.ctx, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 {
			t.Fatalf("got %d clients, want 1", len(cs))
		}
		assertClient(t, cs[0], c)
	}},

	{"empty store gives an empty page", func(t *testing.T, e *env) {
		cs, err := e.s.ListClients(e.ctx, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		if cs == nil || len(cs) != 0 {
			t.Errorf("ListClients = %#v, want an empty non-nil slice", cs)
		}
	}},

	{"refuses a limit below 1", func(t *testing.T, e *env) {
		e.createClient(sampleClient("c1", t0), nil)
		for _, limit := range []int{0, -1} {
			if cs, err := e.s.ListClients(e.ctx, nil, limit); err == nil {
				t.Errorf("ListClients(limit %d) = %v, want an error", limit, ids(cs))
			}
		}
	}},
}

func ids(cs []clients.Client) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

var updateTests = []test{
	{"read-modify-write of every field", func(t *testing.T, e *env) {
		c := sampleClient("c1", t0)
		e.createClient(c, nil)
		var seen clients.Client
		got, err := e.s.UpdateClient(e.ctx, "c1", func(u *clients.Client) error {
			seen = *u
			u.Name = "Renamed"
			u.Type = clients.FirstParty
			u.Public = true
			u.AuthMethod = clients.AuthNone
			u.GrantTypes = []string{clients.GrantAuthorizationCode}
			u.RedirectURIs = []string{"https://new.example/cb"}
			u.Scopes = []string{"admin", "read"}
			u.TLS = clients.TLSClientAuth{SANDNS: "new.example"}
			u.AccessTokenLifetime = 5 * time.Minute
			u.RateLimitTier = "low"
			u.Disabled = true
			u.RequireConsent = false
			u.Resources = []string{"https://new.example/api"}
			u.RefreshTokenDelivery = clients.RefreshTokenDeliveryBody
			u.PostLogoutRedirectURIs = []string{"https://new.example/bye"}
			u.BackchannelLogoutURI = "https://new.example/bc"
			u.BackchannelLogoutSessionRequired = false
			u.IDTokenLifetime = time.Hour
			u.DPoPBoundAccessTokens = false
			u.RequirePushedAuthorizationRequests = false
			u.UpdatedAt = t0.Add(time.Hour)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		assertClient(t, seen, c) // the closure sees the stored client
		want := c
		want.Name, want.Type, want.Public, want.AuthMethod = "Renamed", clients.FirstParty, true, clients.AuthNone
		want.GrantTypes = []string{clients.GrantAuthorizationCode}
		want.RedirectURIs = []string{"https://new.example/cb"}
		want.Scopes = []string{"admin", "read"}
		want.TLS = clients.TLSClientAuth{SANDNS: "new.example"}
		want.AccessTokenLifetime = 5 * time.Minute
		want.RateLimitTier, want.Disabled, want.RequireConsent = "low", true, false
		want.Resources = []string{"https://new.example/api"}
		want.RefreshTokenDelivery = clients.RefreshTokenDeliveryBody
		want.PostLogoutRedirectURIs = []string{"https://new.example/bye"}
		want.BackchannelLogoutURI, want.BackchannelLogoutSessionRequired = "https://new.example/bc", false
		want.IDTokenLifetime = time.Hour
		want.DPoPBoundAccessTokens = false
		want.RequirePushedAuthorizationRequests = false
		want.UpdatedAt = t0.Add(time.Hour)
		assertClient(t, got, want)
		assertClient(t, e.getClient("c1"), want)
	}},

	{"an error from the closure is returned unchanged and nothing is written", func(t *testing.T, e *env) {
		c := sampleClient("c1", t0)
		e.createClient(c, nil)
		boom := errors.New("boom")
		_, err := e.s.UpdateClient(e.ctx, "c1", func(u *clients.Client) error {
			u.Name = "half-done"
			u.Scopes = append(u.Scopes, "admin")
			u.Disabled = true
			return boom
		})
		if err != boom { //nolint:errorlint // the contract returns it unwrapped
			t.Fatalf("err = %v, want the closure's error itself", err)
		}
		assertClient(t, e.getClient("c1"), c)
	}},

	{"a scope outside the catalogue aborts the whole update", func(t *testing.T, e *env) {
		c := sampleClient("c1", t0)
		e.createClient(c, nil)
		_, err := e.s.UpdateClient(e.ctx, "c1", func(u *clients.Client) error {
			u.Name = "changed"
			u.Scopes = []string{"admin", "nope"}
			return nil
		})
		assertErrorIs(t, err, clients.ErrNotFound)
		assertClient(t, e.getClient("c1"), c)
	}},

	{"the client ID cannot be changed", func(t *testing.T, e *env) {
		c := sampleClient("c1", t0)
		e.createClient(c, nil)
		_, err := e.s.UpdateClient(e.ctx, "c1", func(u *clients.Client) error { u.ID = "c2"; return nil })
		if err == nil {
			t.Fatal("changing the ID was accepted")
		}
		assertClient(t, e.getClient("c1"), c)
		e.assertNoClient("c2")
	}},

	{"a missing client is ErrNotFound and the closure is not called", func(t *testing.T, e *env) {
		called := false
		_, err := e.s.UpdateClient(e.ctx, "nobody", func(*clients.Client) error { called = true; return nil })
		assertErrorIs(t, err, clients.ErrNotFound)
		if called {
			t.Error("closure called for a missing client")
		}
	}},

	{"concurrent updates lose nothing", func(t *testing.T, e *env) {
		const n = 20
		var scopes []clients.Scope
		want := []string{"read"}
		for i := range n {
			name := fmt.Sprintf("s%02d", i)
			scopes = append(scopes, clients.Scope{Name: name, CreatedAt: t0})
			want = append(want, name)
		}
		if err := e.s.EnsureScopes(e.ctx, scopes); err != nil {
			t.Fatal(err)
		}
		c := sampleClient("c1", t0)
		c.Scopes = []string{"read"}
		e.createClient(c, nil)

		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = e.s.UpdateClient(e.ctx, "c1", func(u *clients.Client) error {
					u.Scopes = append(u.Scopes, fmt.Sprintf("s%02d", i))
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
		if got := normSet(e.getClient("c1").Scopes); !slices.Equal(got, want) {
			t.Errorf("scopes after %d concurrent appends:\n got %v\nwant %v", n, got, want)
		}
	}},
}

var deleteTests = []test{
	{"DeleteClient removes the client with its secrets, keys and grants", func(t *testing.T, e *env) {
		sec := sampleSecret("c1", t0)
		old := sampleSecret("c1", t0.Add(-time.Hour))
		e.createClient(sampleClient("c1", t0), &old, sampleKey("k1", "c1", t0, "admin"), sampleKey("k2", "c1", t0))
		if err := e.s.RotateSecret(e.ctx, sec, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		keep := sampleClient("c2", t0)
		keepSec := sampleSecret("c2", t0)
		keepKey := sampleKey("k3", "c2", t0, "read")
		e.createClient(keep, &keepSec, keepKey)

		if err := e.s.DeleteClient(e.ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		e.assertNoClient("c1")
		for _, k := range []string{"k1", "k2"} {
			if _, err := e.s.GetAPIKey(e.ctx, k); !errors.Is(err, clients.ErrNotFound) {
				t.Errorf("GetAPIKey(%q) after delete = %v, want ErrNotFound", k, err)
			}
		}
		// Grants went too: the scopes only c1 and its keys had are free.
		if err := e.s.DeleteScope(e.ctx, "admin"); err != nil {
			t.Errorf("DeleteScope(admin) after deleting its only holder: %v", err)
		}
		// The other client is untouched.
		assertClient(t, e.getClient("c2"), keep)
		assertSecrets(t, e.secrets("c2"), keepSec)
		assertKey(t, e.getKey("k3"), keepKey)
		// And the ID can be used again from scratch.
		e.createClient(sampleClient("c1", t0), nil)
		assertSecrets(t, e.secrets("c1"))
	}},

	{"DeleteClient of a missing client is ErrNotFound", func(t *testing.T, e *env) {
		assertErrorIs(t, e.s.DeleteClient(e.ctx, "nobody"), clients.ErrNotFound)
	}},
}
