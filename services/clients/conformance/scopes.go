package conformance

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/services/clients"
)

var scopeTests = []test{
	{"CreateScope round-trips and ListScopes sorts by name", func(t *testing.T, e *env) {
		created := []clients.Scope{
			{Name: "zeta", Description: "last", CreatedAt: t0},
			{Name: "Alpha", Description: "upper case sorts first", System: true, CreatedAt: t0.AddDate(0, 0, 1)},
			{Name: "read:all", Description: "", CreatedAt: t0.AddDate(-1, 0, 0)},
			{Name: "openid", Description: "OpenID Connect", System: true, CreatedAt: t0},
		}
		for _, s := range created {
			if err := e.s.CreateScope(e.ctx, s); err != nil {
				t.Fatalf("CreateScope(%q): %v", s.Name, err)
			}
		}
		got, err := e.s.ListScopes(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]clients.Scope{}
		for _, s := range created {
			want[s.Name] = normScope(s)
		}
		var names []string
		for _, s := range got {
			names = append(names, s.Name)
			checkUTC(t, "scope "+s.Name, s.CreatedAt)
			if w, ok := want[s.Name]; ok && !reflect.DeepEqual(normScope(s), w) {
				t.Errorf("scope %q:\n got %+v\nwant %+v", s.Name, normScope(s), w)
			}
		}
		// Byte order, whatever the database's collation.
		wantNames := slices.Sorted(slices.Values(append([]string{"zeta", "Alpha", "read:all", "openid"}, catalogue...)))
		if !slices.Equal(names, wantNames) {
			t.Errorf("ListScopes names = %v, want %v", names, wantNames)
		}
	}},

	{"CreateScope refuses a taken name and keeps the original", func(t *testing.T, e *env) {
		err := e.s.CreateScope(e.ctx, clients.Scope{Name: "read", Description: "other", System: true, CreatedAt: t0})
		assertErrorIs(t, err, clients.ErrAlreadyExists)
		ss, _ := e.s.ListScopes(e.ctx)
		for _, s := range ss {
			if s.Name == "read" && (s.Description != "scope read" || s.System) {
				t.Errorf("scope read overwritten: %+v", s)
			}
		}
	}},

	{"EnsureScopes inserts missing scopes and leaves existing ones untouched", func(t *testing.T, e *env) {
		first := []clients.Scope{
			{Name: "a", Description: "first a", CreatedAt: t0},
			{Name: "b", Description: "first b", System: true, CreatedAt: t0},
		}
		if err := e.s.EnsureScopes(e.ctx, first); err != nil {
			t.Fatal(err)
		}
		second := []clients.Scope{
			{Name: "a", Description: "second a", System: true, CreatedAt: t0.AddDate(1, 0, 0)},
			{Name: "c", Description: "second c", CreatedAt: t0},
			{Name: "c", Description: "repeated in one call", CreatedAt: t0},
		}
		for range 2 { // idempotent
			if err := e.s.EnsureScopes(e.ctx, second); err != nil {
				t.Fatal(err)
			}
		}
		got, err := e.s.ListScopes(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]clients.Scope{}
		for _, s := range got {
			byName[s.Name] = normScope(s)
		}
		want := map[string]clients.Scope{
			"a": normScope(first[0]),
			"b": normScope(first[1]),
			"c": normScope(second[1]),
		}
		for name, w := range want {
			if !reflect.DeepEqual(byName[name], w) {
				t.Errorf("scope %q:\n got %+v\nwant %+v", name, byName[name], w)
			}
		}
		if len(got) != len(catalogue)+3 {
			t.Errorf("ListScopes returned %d scopes, want %d", len(got), len(catalogue)+3)
		}
	}},

	{"EnsureScopes of nothing is a no-op", func(t *testing.T, e *env) {
		for _, in := range [][]clients.Scope{nil, {}} {
			if err := e.s.EnsureScopes(e.ctx, in); err != nil {
				t.Fatalf("EnsureScopes(%#v): %v", in, err)
			}
		}
		if got := e.scopeNames(); !slices.Equal(got, catalogue) {
			t.Errorf("scopes = %v, want %v", got, catalogue)
		}
	}},

	{"DeleteScope removes an unused scope", func(t *testing.T, e *env) {
		if err := e.s.DeleteScope(e.ctx, "admin"); err != nil {
			t.Fatal(err)
		}
		if got := e.scopeNames(); !slices.Equal(got, []string{"read", "write"}) {
			t.Errorf("scopes = %v", got)
		}
		assertErrorIs(t, e.s.DeleteScope(e.ctx, "admin"), clients.ErrNotFound)
	}},

	{"DeleteScope refuses a scope granted to a client or key until it is revoked", func(t *testing.T, e *env) {
		c := sampleClient("c1", t0)
		c.Scopes = []string{"read"}
		e.createClient(c, nil, sampleKey("k1", "c1", t0, "write"))

		assertErrorIs(t, e.s.DeleteScope(e.ctx, "read"), clients.ErrInUse)  // client
		assertErrorIs(t, e.s.DeleteScope(e.ctx, "write"), clients.ErrInUse) // key
		if got := e.scopeNames(); !slices.Equal(got, catalogue) {
			t.Fatalf("a refused delete removed something: scopes = %v", got)
		}

		if _, err := e.s.UpdateClient(e.ctx, "c1", func(c *clients.Client) error { c.Scopes = nil; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.UpdateAPIKey(e.ctx, "k1", func(k *clients.APIKey) error { k.Scopes = nil; return nil }); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"read", "write"} {
			if err := e.s.DeleteScope(e.ctx, s); err != nil {
				t.Errorf("DeleteScope(%q) after revoking it: %v", s, err)
			}
		}
	}},

	{"scopes outside the catalogue are refused with ErrNotFound", func(t *testing.T, e *env) {
		c := sampleClient("c1", t0)
		c.Scopes = []string{"read", "nope"}
		err := e.s.CreateClient(e.ctx, c, nil)
		assertErrorIs(t, err, clients.ErrNotFound)
		e.assertNoClient("c1")

		e.createClient(sampleClient("c2", t0), nil)
		err = e.s.CreateAPIKey(e.ctx, sampleKey("k1", "c2", t0, "nope"))
		assertErrorIs(t, err, clients.ErrNotFound)
		if _, err := e.s.GetAPIKey(e.ctx, "k1"); !errors.Is(err, clients.ErrNotFound) {
			t.Errorf("key with an unknown scope was stored: %v", err)
		}
		if got := e.scopeNames(); !slices.Equal(got, catalogue) {
			t.Errorf("scopes = %v: an unknown scope was added to the catalogue", got)
		}
	}},
}
