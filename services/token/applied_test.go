package token_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestRevocationAppliedToGrants: the grant store follows the revocation
// list. A subject revocation (a disabled user) ends the user's grants and
// sessions started before it, not those started after; a client
// revocation ends the client's grants; a family revocation (the CLI's
// revoke refresh-family) ends that family.
func TestRevocationAppliedToGrants(t *testing.T) {
	e := newEnv(t, withFlow())
	ctx := context.Background()
	grant := func(a *agent, seed string) string {
		v, ch := pkce(seed)
		return e.exchange(e.spa, e.codeFor(a, e.spa, ch), v, spaRedirect).json(t)["refresh_token"].(string)
	}
	refreshes := func(rt string) bool { return e.refresh(e.spa, rt, "").status == http.StatusOK }
	apply := func(kind revocationv1.Kind, id string, at time.Time) {
		e.svc.RevocationsApplied(ctx, []*revocationv1.Entry{{Kind: kind, Id: id, RevokeTime: timestamppb.New(at)}})
	}

	a := e.agent()
	rt := grant(a, "subject-1")
	e.clock.Advance(time.Second)
	apply(revocationv1.Kind_KIND_SUBJECT, aliceID, e.clock.Now())
	if refreshes(rt) {
		t.Fatal("a grant from before the subject revocation still refreshes")
	}
	// The session went too: the next authorization shows the login page.
	_, ch := pkce("subject-2")
	if r := a.get(e.authorizeURL(e.spa, spaRedirect, "s", ch)); r.status != http.StatusOK {
		t.Fatalf("authorize after a subject revocation: %d, want the login page", r.status)
	}
	// A sign-in after the revocation works, and a replay of the entry (a
	// follower loading the list again) spares it.
	e.clock.Advance(time.Second)
	b := e.agent()
	rt2 := grant(b, "subject-3")
	apply(revocationv1.Kind_KIND_SUBJECT, aliceID, e.clock.Now().Add(-time.Second))
	if !refreshes(rt2) {
		t.Fatal("a grant from after the subject revocation was revoked by its replay")
	}

	rt3 := grant(b, "client-1")
	e.clock.Advance(time.Second)
	apply(revocationv1.Kind_KIND_CLIENT, e.spa.id, e.clock.Now())
	if refreshes(rt3) {
		t.Fatal("a grant from before the client revocation still refreshes")
	}

	e.clock.Advance(time.Second)
	v, ch4 := pkce("family-1")
	tok := e.exchange(e.spa, e.codeFor(b, e.spa, ch4), v, spaRedirect).json(t)
	_, claims := decodeJWT(t, tok["access_token"].(string))
	apply(revocationv1.Kind_KIND_REFRESH_FAMILY, claims["fid"].(string), e.clock.Now())
	if refreshes(tok["refresh_token"].(string)) {
		t.Fatal("a revoked family still refreshes")
	}
}

// countingFamilies counts the grant store's family revocations.
type countingFamilies struct {
	grantstore.Store
	one, many atomic.Int64
}

func (c *countingFamilies) RevokeFamily(ctx context.Context, id, reason string, now time.Time) (grantstore.Family, error) {
	c.one.Add(1)
	return c.Store.RevokeFamily(ctx, id, reason, now)
}

func (c *countingFamilies) RevokeFamilies(ctx context.Context, ids []string, reason string, now time.Time) (int64, error) {
	c.many.Add(1)
	return c.Store.RevokeFamilies(ctx, ids, reason, now)
}

// TestRevocationsAppliedPage: a page of the list reaches the grant store
// with one statement for its run of family revocations, not one per
// family, in the list's order around the entries of other kinds.
func TestRevocationsAppliedPage(t *testing.T) {
	counts := &countingFamilies{}
	e := newEnv(t, withGrantsWrapper(func(s grantstore.Store) grantstore.Store { counts.Store = s; return counts }))
	a := e.agent()
	var rts, fids []string
	for i := range 3 {
		v, ch := pkce(fmt.Sprintf("page-%d", i))
		tok := e.exchange(e.spa, e.codeFor(a, e.spa, ch), v, spaRedirect).json(t)
		_, claims := decodeJWT(t, tok["access_token"].(string))
		rts, fids = append(rts, tok["refresh_token"].(string)), append(fids, claims["fid"].(string))
	}
	family := func(id string) *revocationv1.Entry {
		return &revocationv1.Entry{Kind: revocationv1.Kind_KIND_REFRESH_FAMILY, Id: id, RevokeTime: timestamppb.New(e.clock.Now())}
	}
	e.svc.RevocationsApplied(context.Background(), []*revocationv1.Entry{
		family(fids[0]), family("an unknown family"), family(fids[1]),
		{Kind: revocationv1.Kind_KIND_CLIENT, Id: e.codeClient.id, RevokeTime: timestamppb.New(e.clock.Now())},
		family(fids[2]),
	})
	if one, many := counts.one.Load(), counts.many.Load(); one != 0 || many != 2 {
		t.Errorf("%d RevokeFamily and %d RevokeFamilies calls, want 0 and 2 (the runs before and after the client entry)", one, many)
	}
	for i, rt := range rts {
		if r := e.refresh(e.spa, rt, ""); r.status == http.StatusOK {
			t.Errorf("family %d still refreshes after the page", i)
		}
	}
}
