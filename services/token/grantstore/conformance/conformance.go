package conformance

import (
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// NewStore returns an empty, migrated store over a database of its own and
// arranges its cleanup with t.Cleanup.
type NewStore func(t *testing.T) grantstore.Store

// Run tests a grantstore.Store implementation against the contract. Each
// leaf subtest calls newStore once.
func Run(t *testing.T, newStore NewStore) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Codes", codeTests},
		{"Families", familyTests},
		{"BulkRevocation", bulkTests},
		{"Rotation", rotationTests},
		{"Sessions", sessionTests},
		{"PushedRequests", pushedTests},
		{"DeleteExpired", cleanupTests},
		{"Values", valueTests},
		{"Concurrency", concurrencyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) {
					tt.run(t, &env{t: t, ctx: t.Context(), s: newStore(t), new: newStore})
				})
			}
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
	s   grantstore.Store
	new NewStore
}

// in returns the env for a subtest, so that its helpers fail the subtest.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t, c.ctx = t, t.Context()
	return &c
}

// fresh returns the env for a subtest with a new, empty store of its own.
func (e *env) fresh(t *testing.T) *env {
	c := e.in(t)
	c.s = e.new(t)
	return c
}

// zone is deliberately not UTC: stores must hand back UTC whatever they
// were given.
var zone = time.FixedZone("UTC+05:30", 5*3600+30*60)

// t0 carries nanoseconds, which every backend truncates to microseconds.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 123456789, zone)

const (
	codeLifetime    = time.Minute
	familyLifetime  = 30 * 24 * time.Hour
	idleTimeout     = 24 * time.Hour
	sessionLifetime = 12 * time.Hour
)

// hash is the SHA-256 of a name, as callers hash secrets.
func hash(name string) []byte {
	h := sha256.Sum256([]byte(name))
	return h[:]
}

func sampleCode(name string, at time.Time) grantstore.Code {
	return grantstore.Code{
		Hash:        hash("code " + name),
		ClientID:    "client-" + name,
		RedirectURI: "https://app.example/cb?x=" + name,
		Challenge:   "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		UserID:      "user-" + name,
		Scopes:      []string{"openid", "profile", "orders:read"},
		Resources:   []string{"https://api.example/orders"},
		FamilyID:    "family-of-" + name,
		AuthTime:    at.Add(-time.Minute),
		CreatedAt:   at,
		ExpiresAt:   at.Add(codeLifetime),
		// Byte for byte, whatever it holds.
		Nonce:     "n-0S6_WzA2Mj " + name + ` "ü\u00e9`,
		SessionID: "sid-" + name,
		DPoPJKT:   "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
	}
}

func sampleFamily(id, clientID, userID string, created time.Time) grantstore.Family {
	return grantstore.Family{
		ID:        id,
		ClientID:  clientID,
		UserID:    userID,
		Scopes:    []string{"openid", "offline_access", "orders:read"},
		Resources: []string{"https://api.example/orders", "https://api.example/users"},
		AuthTime:  created.Add(-time.Second),
		CreatedAt: created,
		ExpiresAt: created.Add(familyLifetime),
		SessionID: "sid-" + userID,
		DPoPJKT:   "jkt-of-" + id,
	}
}

func sampleRefresh(name, familyID string, created time.Time) grantstore.Refresh {
	return grantstore.Refresh{
		Hash:          hash("refresh " + name),
		FamilyID:      familyID,
		Scopes:        []string{"orders:read"},
		CreatedAt:     created,
		IdleExpiresAt: created.Add(idleTimeout),
	}
}

func sampleSession(name, userID string, created time.Time) grantstore.Session {
	return grantstore.Session{
		Hash:      hash("session " + name),
		UserID:    userID,
		AuthTime:  created,
		CreatedAt: created,
		ExpiresAt: created.Add(sessionLifetime),
	}
}

// norm is t as a store hands it back.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func list(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// The stored* functions give a record as a store hands it back.

func storedCode(c grantstore.Code) grantstore.Code {
	c.Scopes, c.Resources = list(c.Scopes), list(c.Resources)
	c.AuthTime, c.CreatedAt, c.ExpiresAt, c.RedeemedAt = norm(c.AuthTime), norm(c.CreatedAt), norm(c.ExpiresAt), norm(c.RedeemedAt)
	return c
}

func storedFamily(f grantstore.Family) grantstore.Family {
	f.Scopes, f.Resources = list(f.Scopes), list(f.Resources)
	f.AuthTime, f.CreatedAt, f.ExpiresAt, f.RevokedAt = norm(f.AuthTime), norm(f.CreatedAt), norm(f.ExpiresAt), norm(f.RevokedAt)
	return f
}

func storedRefresh(rt grantstore.Refresh) grantstore.Refresh {
	rt.Scopes = list(rt.Scopes)
	rt.CreatedAt, rt.IdleExpiresAt, rt.RotatedAt = norm(rt.CreatedAt), norm(rt.IdleExpiresAt), norm(rt.RotatedAt)
	return rt
}

func storedSession(s grantstore.Session) grantstore.Session {
	s.AuthTime, s.CreatedAt, s.ExpiresAt, s.RevokedAt = norm(s.AuthTime), norm(s.CreatedAt), norm(s.ExpiresAt), norm(s.RevokedAt)
	return s
}

func revoked(f grantstore.Family, at time.Time, reason string) grantstore.Family {
	f.RevokedAt, f.RevokeReason = norm(at), reason
	return f
}

func rotated(rt grantstore.Refresh, at time.Time) grantstore.Refresh {
	rt.RotatedAt = norm(at)
	return rt
}

// assertEqual compares a record with reflect.DeepEqual: nil and empty
// slices differ, and so do time zones, both of which the contract fixes.
func assertEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func assertErrorIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want errors.Is(err, %v)", err, target)
	}
}

// sentinels are the errors of the contract; an invalid argument must be
// none of them.
var sentinels = []error{
	grantstore.ErrNotFound, grantstore.ErrExists, grantstore.ErrCodeRedeemed,
	grantstore.ErrExpired, grantstore.ErrRefreshReused, grantstore.ErrRevoked,
}

func assertPlainError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil, want an error")
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			t.Fatalf("err = %v, which is %v; want an error that is no sentinel", err, s)
		}
	}
}
