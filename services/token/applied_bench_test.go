package token_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// BenchmarkRevocationsApplied is the grant store following a page of
// 1,000 refresh-family entries of the revocation list (what a replica
// replays at every start), as one call per entry and as one call per page;
// half the families exist.
//
//	go test -run '^$' -bench RevocationsApplied ./services/token/
func BenchmarkRevocationsApplied(b *testing.B) {
	for _, be := range flowBackends {
		for _, perPage := range []bool{false, true} {
			name := be.name + "/per-entry"
			if perPage {
				name = be.name + "/per-page"
			}
			b.Run(name, func(b *testing.B) { benchRevocationsApplied(b, be.opt, perPage) })
		}
	}
}

func benchRevocationsApplied(b *testing.B, opt envOption, perPage bool) {
	e := newEnv(b, opt)
	ctx := context.Background()
	const page = 1000
	for i := range page / 2 {
		now := e.clock.Now()
		fam := grantstore.Family{
			ID: fmt.Sprintf("bench-%d", i), ClientID: e.spa.id, UserID: aliceID, Scopes: []string{"orders:read"},
			AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		}
		if err := e.grants.CreateFamily(ctx, fam, nil); err != nil {
			b.Fatal(err)
		}
	}
	entries := make([]*revocationv1.Entry, page)
	for i := range entries {
		entries[i] = &revocationv1.Entry{Kind: revocationv1.Kind_KIND_REFRESH_FAMILY, Id: fmt.Sprintf("bench-%d", i), RevokeTime: timestamppb.New(e.clock.Now())}
	}
	b.ResetTimer()
	for range b.N {
		if perPage {
			e.svc.RevocationsApplied(ctx, entries)
			continue
		}
		for _, en := range entries {
			e.svc.RevocationsApplied(ctx, []*revocationv1.Entry{en})
		}
	}
	b.ReportMetric(float64(b.N*page)/b.Elapsed().Seconds(), "entries/s")
}
