package sqlstore_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/conformance"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/sqlstore"
)

func TestConformance(t *testing.T) {
	for _, be := range dbtest.Backends {
		t.Run(be.Name, func(t *testing.T) { conformance.Run(t, dbtest.NewStore[grantstore.Store](be, sqlstore.New)) })
	}
}

// TestExchangeCodeInOneStatement: on PostgreSQL a code as expected is
// exchanged without the caller's check (the one-statement path), and its
// grant is the one Grant describes; a code not as expected still is
// checked.
func TestExchangeCodeInOneStatement(t *testing.T) {
	ctx := t.Context()
	s, err := sqlstore.New(ctx, dbtest.PostgresDB(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	code := func(name string) grantstore.Code {
		sum := sha256.Sum256([]byte(name))
		c := grantstore.Code{
			Hash: sum[:], ClientID: "spa", RedirectURI: "https://app.example/cb", Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
			UserID: "alice", Scopes: []string{"orders:read"}, FamilyID: "family-" + name, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Minute),
		}
		if err := s.CreateCode(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	exchange := func(c grantstore.Code, checked *int) *grantstore.CodeExchange {
		rt := sha256.Sum256([]byte("refresh of " + c.FamilyID))
		return &grantstore.CodeExchange{
			ClientID: "spa", RedirectURI: "https://app.example/cb", Challenge: c.Challenge,
			FamilyExpiresAt: now.Add(time.Hour), Refresh: &grantstore.Refresh{Hash: rt[:], IdleExpiresAt: now.Add(time.Hour)},
			Check: func(grantstore.Code) error { *checked++; return nil },
		}
	}

	var checked int
	c := code("expected")
	x := exchange(c, &checked)
	got, err := s.ExchangeCode(ctx, c.Hash, now, x)
	if err != nil {
		t.Fatal(err)
	}
	if checked != 0 {
		t.Errorf("a code as expected was checked %d times: not the one-statement path", checked)
	}
	f, rt := x.Grant(got, now)
	if _, gotF, err := s.GetRefresh(ctx, rt.Hash); err != nil || gotF.ID != f.ID || !gotF.ExpiresAt.Equal(f.ExpiresAt) {
		t.Errorf("the grant stored: %+v, %v; want %+v", gotF, err, f)
	}

	other := code("other redirect")
	x = exchange(other, &checked)
	x.RedirectURI = "https://app.example/other"
	if _, err := s.ExchangeCode(ctx, other.Hash, now, x); err != nil {
		t.Fatal(err)
	}
	if checked != 1 {
		t.Errorf("a code not as expected was checked %d times, want once", checked)
	}
}
