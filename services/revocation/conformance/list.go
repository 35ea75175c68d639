package conformance

import (
	"fmt"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
)

// fill revokes n access tokens "t1".."tn" at seqs 1..n and returns them as
// stored.
func (e *env) fill(s revocation.Store, n int) []revocation.Entry {
	e.t.Helper()
	var out []revocation.Entry
	for i := range n {
		en := entry(revocationv1.Kind_KIND_ACCESS_TOKEN, fmt.Sprintf("t%d", i+1), t0.Add(time.Duration(i)*time.Second), time.Time{})
		got, _ := e.revoke(s, en)
		out = append(out, got)
	}
	return out
}

var listTests = []test{
	{"pages with since and limit, in seq order, with the head", func(t *testing.T, e *env) {
		s := e.store()
		all := e.fill(s, 10)
		for i, en := range all {
			if en.Seq != int64(i+1) {
				t.Fatalf("entry %d has seq %d, want %d", i, en.Seq, i+1)
			}
		}
		tests := []struct {
			since int64
			limit int
			want  []revocation.Entry
		}{
			{0, 3, all[0:3]},
			{3, 3, all[3:6]},
			{6, 100, all[6:]},
			{9, 5, all[9:]},
			{10, 5, nil},
			{42, 5, nil},
			{0, 10, all},
			{-1, 1, all[:1]},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("since %d limit %d", tt.since, tt.limit), func(t *testing.T) {
				e := e.in(t)
				got, head := e.list(s, tt.since, tt.limit)
				assertEntries(t, got, tt.want...)
				if head != 10 {
					t.Errorf("head = %d, want 10", head)
				}
			})
		}
	}},

	{"a follower paging from 0 sees everything once", func(t *testing.T, e *env) {
		s := e.store()
		all := e.fill(s, 7)
		var seen []revocation.Entry
		var since int64
		for range 10 { // bounded: 7 entries in pages of 2
			page, head := e.list(s, since, 2)
			seen = append(seen, page...)
			if len(page) == 0 {
				if since != head {
					t.Fatalf("empty page at since %d below head %d", since, head)
				}
				break
			}
			since = page[len(page)-1].Seq
		}
		assertEntries(t, seen, all...)
	}},
}
