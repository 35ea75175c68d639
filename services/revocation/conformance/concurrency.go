package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
)

const (
	writers      = 8
	perWriter    = 40
	readPageSize = 16
)

var concurrencyTests = []test{
	{"concurrent writers get unique, gap-free seqs that a concurrent reader sees once, in order", func(t *testing.T, e *env) {
		// Writers share two stores (two processes); the reader has a
		// third.
		ss := e.new(t, 3)
		ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
		defer cancel()

		r := &reader{s: ss[2]}
		done := make(chan struct{})
		readErr := make(chan error, 1)
		go func() { readErr <- r.follow(ctx, done) }()

		var wg sync.WaitGroup
		results := make(chan revocation.Entry, writers*perWriter)
		errs := make(chan error, writers*perWriter)
		for w := range writers {
			wg.Go(func() {
				s := ss[w%2]
				for i := range perWriter {
					en := entry(revocationv1.Kind_KIND_ACCESS_TOKEN, fmt.Sprintf("w%d-%d", w, i), t0, time.Time{})
					got, created, err := s.Revoke(ctx, en)
					if err != nil {
						errs <- err
						return
					}
					if !created {
						errs <- fmt.Errorf("revoke %s: created = false", en.ID)
					}
					results <- got
				}
			})
		}
		wg.Wait()
		close(done)
		close(results)
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if err := <-readErr; err != nil {
			t.Errorf("reader: %v", err)
		}
		if t.Failed() {
			return
		}

		const n = writers * perWriter
		var got []int64
		byID := map[string]int64{}
		for en := range results {
			got = append(got, en.Seq)
			byID[en.ID] = en.Seq
		}
		slices.Sort(got)
		for i, seq := range got {
			if seq != int64(i+1) {
				t.Fatalf("sorted seqs %v...: want 1..%d without gaps or repeats", got[:min(i+3, len(got))], n)
			}
		}
		if len(got) != n {
			t.Fatalf("%d seqs, want %d", len(got), n)
		}
		if h := e.head(ss[0]); h != n {
			t.Errorf("Head = %d, want %d", h, n)
		}
		// The reader saw every entry exactly once, under the seq its
		// writer was given.
		if len(r.seen) != n {
			t.Fatalf("reader saw %d entries, want %d", len(r.seen), n)
		}
		for _, en := range r.seen {
			if byID[en.ID] != en.Seq {
				t.Errorf("reader saw %s at seq %d, its writer got %d", en.ID, en.Seq, byID[en.ID])
			}
		}
		t.Logf("reader made %d List calls while writers ran", r.calls)
	}},

	{"concurrent Revokes of one new point entry create it once", func(t *testing.T, e *env) {
		ss := e.new(t, 2)
		got := make([]revocation.Entry, writers)
		created := make([]bool, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				en := revocation.Entry{Kind: revocationv1.Kind_KIND_API_KEY, ID: "same", Reason: fmt.Sprintf("writer %d", w), RevokedAt: t0}
				got[w], created[w], errs[w] = ss[w%2].Revoke(e.ctx, en)
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		var n int
		for w := range writers {
			if created[w] {
				n++
			}
			if got[w] != got[0] {
				t.Errorf("writer %d got %+v, writer 0 got %+v", w, got[w], got[0])
			}
		}
		if n != 1 {
			t.Errorf("%d Revokes created the entry, want 1", n)
		}
		if h := e.head(ss[0]); h != 1 {
			t.Errorf("Head = %d, want 1", h)
		}
	}},

	{"concurrent Revokes of one cut-off entry replace it one after another", func(t *testing.T, e *env) {
		ss := e.new(t, 2)
		seqs := make([]int64, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				en := revocation.Entry{Kind: revocationv1.Kind_KIND_CLIENT, ID: "same", Reason: fmt.Sprintf("writer %d", w), RevokedAt: t0.Add(time.Duration(w) * time.Second)}
				got, created, err := ss[w%2].Revoke(e.ctx, en)
				if err == nil && !created {
					err = fmt.Errorf("writer %d: created = false", w)
				}
				seqs[w], errs[w] = got.Seq, err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		slices.Sort(seqs)
		if want := []int64{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(seqs, want) {
			t.Errorf("seqs = %v, want %v", seqs, want)
		}
		all, head := e.list(ss[0], 0, 100)
		if len(all) != 1 || all[0].Seq != writers || head != writers {
			t.Fatalf("List = %+v head %d, want the one entry at seq %d", all, head, writers)
		}
		// Whoever committed last, the cut-off is the latest of them all.
		if want := normTime(t0.Add((writers - 1) * time.Second)); !all[0].RevokedAt.Equal(want) {
			t.Errorf("RevokedAt = %v, want %v", all[0].RevokedAt, want)
		}
	}},
}

// reader follows the list as a follower does, with List(since = last), and
// checks every page: while nothing is deleted or replaced seqs are
// consecutive, so an entry must be exactly last+1, and a short page must
// end at the head (everything up to the head is visible).
type reader struct {
	s     revocation.Store
	last  int64
	seen  []revocation.Entry
	calls int
}

// follow pages until done is closed, then once more to the end.
func (r *reader) follow(ctx context.Context, done <-chan struct{}) error {
	for {
		select {
		case <-done:
			// The writers have stopped: read to the end, bounded by
			// the number of pages there can be.
			for range writers*perWriter/readPageSize + 2 {
				n, err := r.page(ctx)
				if err != nil || n == 0 {
					return err
				}
			}
			return errors.New("did not reach the end")
		default:
		}
		if _, err := r.page(ctx); err != nil {
			return err
		}
	}
}

func (r *reader) page(ctx context.Context) (int, error) {
	r.calls++
	es, head, err := r.s.List(ctx, r.last, readPageSize)
	if err != nil {
		return 0, err
	}
	for _, en := range es {
		if en.Seq != r.last+1 {
			return 0, fmt.Errorf("since %d, the next seq is %d: seq %d was skipped or became visible late", r.last, en.Seq, r.last+1)
		}
		if en.Seq > head {
			return 0, fmt.Errorf("a page holds seq %d above its head %d", en.Seq, head)
		}
		r.last = en.Seq
		r.seen = append(r.seen, en)
	}
	if len(es) < readPageSize && r.last != head {
		return 0, fmt.Errorf("a short page ends at %d below its head %d", r.last, head)
	}
	return len(es), nil
}
