package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// bulkCase is RevokeUserFamilies or RevokeClientFamilies, with the owner
// column it selects on.
type bulkCase struct {
	name   string
	revoke func(ctx context.Context, s grantstore.Store, owner, reason string, before, now time.Time) ([]grantstore.Family, error)
	// family makes a family of owner (the other column set to other).
	family func(id, owner, other string, created time.Time) grantstore.Family
}

var bulkCases = []bulkCase{
	{
		"RevokeUserFamilies",
		func(ctx context.Context, s grantstore.Store, owner, reason string, before, now time.Time) ([]grantstore.Family, error) {
			return s.RevokeUserFamilies(ctx, owner, reason, before, now)
		},
		func(id, owner, other string, created time.Time) grantstore.Family {
			return sampleFamily(id, other, owner, created)
		},
	},
	{
		"RevokeClientFamilies",
		func(ctx context.Context, s grantstore.Store, owner, reason string, before, now time.Time) ([]grantstore.Family, error) {
			return s.RevokeClientFamilies(ctx, owner, reason, before, now)
		},
		func(id, owner, other string, created time.Time) grantstore.Family {
			return sampleFamily(id, owner, other, created)
		},
	},
	{
		"RevokeSessionFamilies",
		func(ctx context.Context, s grantstore.Store, owner, reason string, before, now time.Time) ([]grantstore.Family, error) {
			return s.RevokeSessionFamilies(ctx, owner, reason, before, now)
		},
		func(id, owner, other string, created time.Time) grantstore.Family {
			f := sampleFamily(id, other, other, created)
			f.SessionID = owner
			return f
		},
	},
}

var bulkTests = []test{
	{"revokes only the owner's live families created at or before 'before', returned in CreatedAt order", func(t *testing.T, e *env) {
		for _, bc := range bulkCases {
			t.Run(bc.name, func(t *testing.T) {
				e := e.fresh(t)
				before, now := t0.Add(time.Hour), t0.Add(2*time.Hour)
				// The ids run against the creation order, so a store
				// returning id order fails.
				fams := map[string]grantstore.Family{
					"z-live":        bc.family("z-live", "o1", "x1", t0),
					"y-at-before":   bc.family("y-at-before", "o1", "x2", before),
					"x-after":       bc.family("x-after", "o1", "x1", before.Add(time.Microsecond)),
					"w-other-owner": bc.family("w-other-owner", "o2", "x1", t0),
					"v-revoked":     bc.family("v-revoked", "o1", "x1", t0.Add(-time.Hour)),
					// Expired but not revoked: its last access tokens
					// may still be valid, so it is revoked too.
					"u-expired": bc.family("u-expired", "o1", "x1", t0.Add(-familyLifetime-time.Hour)),
				}
				for _, f := range fams {
					rt := sampleRefresh(f.ID, f.ID, f.CreatedAt)
					e.createFamily(f, &rt)
				}
				e.revokeFamily("v-revoked", "logout", t0)

				got, err := bc.revoke(e.ctx, e.s, "o1", "password_changed", before, now)
				if err != nil {
					t.Fatal(err)
				}
				want := []grantstore.Family{
					storedFamily(revoked(fams["u-expired"], now, "password_changed")),
					storedFamily(revoked(fams["z-live"], now, "password_changed")),
					storedFamily(revoked(fams["y-at-before"], now, "password_changed")),
				}
				assertEqual(t, "revoked families", got, want)
				for _, f := range want {
					assertEqual(t, "GetFamily("+f.ID+")", e.getFamily(f.ID), f)
				}
				assertEqual(t, "after 'before'", e.getFamily("x-after"), storedFamily(fams["x-after"]))
				assertEqual(t, "other owner", e.getFamily("w-other-owner"), storedFamily(fams["w-other-owner"]))
				assertEqual(t, "revoked before", e.getFamily("v-revoked"), storedFamily(revoked(fams["v-revoked"], t0, "logout")))
				// A revoked family's tokens are refused.
				_, _, err = e.s.RotateRefresh(e.ctx, hash("refresh z-live"), owner(fams["z-live"]), sampleRefresh("next", "z-live", now), now)
				assertErrorIs(t, err, grantstore.ErrRevoked)
			})
		}
	}},

	{"a second call revokes nothing and returns an empty list, not nil", func(t *testing.T, e *env) {
		for _, bc := range bulkCases {
			t.Run(bc.name, func(t *testing.T) {
				e := e.fresh(t)
				e.createFamily(bc.family("f1", "o1", "x1", t0), nil)
				first, err := bc.revoke(e.ctx, e.s, "o1", "first", t0, t0.Add(time.Minute))
				if err != nil || len(first) != 1 {
					t.Fatalf("first call = %v, %v; want the one family", first, err)
				}
				again, err := bc.revoke(e.ctx, e.s, "o1", "second", t0.Add(time.Hour), t0.Add(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				assertEqual(t, "second call", again, []grantstore.Family{})
				got := e.getFamily("f1")
				if got.RevokeReason != "first" || !got.RevokedAt.Equal(norm(t0.Add(time.Minute))) {
					t.Errorf("family revoked %v for %q, want the first call's %v, %q", got.RevokedAt, got.RevokeReason, norm(t0.Add(time.Minute)), "first")
				}
				none, err := bc.revoke(e.ctx, e.s, "nobody", "x", t0, t0)
				if err != nil {
					t.Fatal(err)
				}
				assertEqual(t, "unknown owner", none, []grantstore.Family{})
			})
		}
	}},

	{"'before' compares instants, not wall clocks", func(t *testing.T, e *env) {
		for _, bc := range bulkCases {
			t.Run(bc.name, func(t *testing.T) {
				e := e.fresh(t)
				e.createFamily(bc.family("f1", "o1", "x1", t0), nil)
				got, err := bc.revoke(e.ctx, e.s, "o1", "r", norm(t0).Add(-time.Microsecond).In(time.UTC), t0)
				if err != nil || len(got) != 0 {
					t.Fatalf("before one microsecond earlier = %v, %v; want none", got, err)
				}
				got, err = bc.revoke(e.ctx, e.s, "o1", "r", t0.In(time.UTC), t0)
				if err != nil || len(got) != 1 {
					t.Fatalf("before at CreatedAt = %v, %v; want the family", got, err)
				}
			})
		}
	}},
}
