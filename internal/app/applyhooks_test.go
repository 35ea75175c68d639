package app

import (
	"fmt"
	"slices"
	"testing"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
)

// TestApplyHooksBacklog: entries the follower applies before the hooks
// are open are kept (those the grant store follows) and replayed to every
// hook, in order and a page at a time, when they open; entries after that
// reach the hooks as they come.
func TestApplyHooksBacklog(t *testing.T) {
	var h applyHooks
	entry := func(kind revocationv1.Kind, i int) *revocationv1.Entry {
		return &revocationv1.Entry{Seq: int64(i), Kind: kind, Id: fmt.Sprint(i)}
	}
	// Before any hook exists: 2,500 families, an access token, a subject
	// and a client revocation, an API key.
	var want []int64
	for i := 1; i <= 2500; i++ {
		h.run([]*revocationv1.Entry{entry(revocationv1.Kind_KIND_REFRESH_FAMILY, i)})
		want = append(want, int64(i))
	}
	h.run([]*revocationv1.Entry{
		entry(revocationv1.Kind_KIND_ACCESS_TOKEN, 2501), entry(revocationv1.Kind_KIND_SUBJECT, 2502),
		entry(revocationv1.Kind_KIND_CLIENT, 2503), entry(revocationv1.Kind_KIND_API_KEY, 2504),
	})
	want = append(want, 2502, 2503)

	var got [2][]int64
	var pages []int
	for i := range got {
		h.add(func(es []*revocationv1.Entry) {
			if i == 0 {
				pages = append(pages, len(es))
			}
			for _, e := range es {
				got[i] = append(got[i], e.GetSeq())
			}
		})
	}
	if len(got[0]) != 0 {
		t.Fatal("a hook ran before open")
	}
	h.open()
	for i := range got {
		if !slices.Equal(got[i], want) {
			t.Errorf("hook %d got %d entries (%v...), want the %d families, the subject and the client in order", i, len(got[i]), got[i][:min(3, len(got[i]))], len(want))
		}
	}
	if want := []int{replayPage, replayPage, 502}; !slices.Equal(pages, want) {
		t.Errorf("replayed in pages of %v, want %v", pages, want)
	}
	if h.backlog != nil {
		t.Error("the backlog is kept after open")
	}

	h.run([]*revocationv1.Entry{entry(revocationv1.Kind_KIND_API_KEY, 2505)})
	if last := got[1][len(got[1])-1]; last != 2505 {
		t.Errorf("after open the hooks got %d last, want the new entry 2505", last)
	}
}
