// Package conformance is the behaviour every audit.Store must have, run by
// each implementation's tests on each database.
package conformance

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/audit"
)

// Run runs the suite; open returns a new, empty store.
func Run(t *testing.T, open func(t *testing.T) audit.Store) {
	t.Run("AppendList", func(t *testing.T) { appendList(t, open(t)) })
	t.Run("Filters", func(t *testing.T) { filters(t, open(t)) })
	t.Run("Finish", func(t *testing.T) { finish(t, open(t)) })
	t.Run("Purge", func(t *testing.T) { purge(t, open(t)) })
}

var base = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func rec(at time.Duration, client, key, action string, targets ...string) audit.Record {
	return audit.Record{
		At: base.Add(at), ActorKind: "api_key", ActorClientID: client, ActorKeyID: key, ActorKeyName: "ops",
		Action: action, Targets: targets, Outcome: audit.OutcomeOK, Remote: "192.0.2.1", RequestID: "req-1", Service: "all",
	}
}

func mustAppend(t *testing.T, s audit.Store, rs ...audit.Record) []audit.Record {
	t.Helper()
	out := make([]audit.Record, len(rs))
	for i, r := range rs {
		got, err := s.Append(context.Background(), r)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		out[i] = got
	}
	return out
}

func seqs(rs []audit.Record) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

func appendList(t *testing.T, s audit.Store) {
	ctx := context.Background()
	in := mustAppend(t, s,
		rec(0, "c_admin", "k1", "/gatehouse.clients.v1.ClientRegistryService/CreateClient", "client_id=c_new"),
		rec(time.Second, "c_admin", "k1", "/gatehouse.clients.v1.ClientRegistryService/DeleteClient", "client_id=c_new"))
	if in[0].Seq <= 0 || in[1].Seq <= in[0].Seq {
		t.Fatalf("seqs %d, %d: want increasing from 1", in[0].Seq, in[1].Seq)
	}
	got, err := s.List(ctx, audit.Filter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("List: %d records, want 2", len(got))
	}
	want := in[1]
	want.At = want.At.UTC().Truncate(time.Microsecond)
	if g := got[0]; g.Seq != want.Seq || !g.At.Equal(want.At) || g.ActorKind != want.ActorKind || g.ActorClientID != want.ActorClientID ||
		g.ActorKeyID != want.ActorKeyID || g.ActorKeyName != want.ActorKeyName || g.Action != want.Action || g.Outcome != want.Outcome ||
		g.Remote != want.Remote || g.RequestID != want.RequestID || g.Service != want.Service || !slices.Equal(g.Targets, want.Targets) {
		t.Fatalf("List[0] = %+v, want %+v", g, want)
	}
}

func filters(t *testing.T, s audit.Store) {
	ctx := context.Background()
	in := mustAppend(t, s,
		rec(0, "c_a", "k_a", "/x/CreateClient", "client_id=c_1"),
		rec(time.Minute, "c_b", "k_b", "/x/CreateAPIKey", "client_id=c_1", "key_id=k_9"),
		rec(2*time.Minute, "c_a", "k_a2", "/x/CreateUser", "user_id=u_1"),
		rec(3*time.Minute, "c_b", "", "/x/DeleteScope", "name=orders:read"))
	for _, tc := range []struct {
		name string
		f    audit.Filter
		want []int64
	}{
		{"all", audit.Filter{Limit: 10}, []int64{in[3].Seq, in[2].Seq, in[1].Seq, in[0].Seq}},
		{"actor client", audit.Filter{Actor: "c_a", Limit: 10}, []int64{in[2].Seq, in[0].Seq}},
		{"actor key", audit.Filter{Actor: "k_b", Limit: 10}, []int64{in[1].Seq}},
		{"target", audit.Filter{Target: "c_1", Limit: 10}, []int64{in[1].Seq, in[0].Seq}},
		{"target scope", audit.Filter{Target: "orders:read", Limit: 10}, []int64{in[3].Seq}},
		{"since", audit.Filter{Since: base.Add(2 * time.Minute), Limit: 10}, []int64{in[3].Seq, in[2].Seq}},
		{"actor and target", audit.Filter{Actor: "c_b", Target: "c_1", Limit: 10}, []int64{in[1].Seq}},
		{"page", audit.Filter{Before: in[2].Seq, Limit: 1}, []int64{in[1].Seq}},
		{"limit", audit.Filter{Limit: 2}, []int64{in[3].Seq, in[2].Seq}},
		{"none", audit.Filter{Actor: "nobody", Limit: 10}, []int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqs(got), tc.want) {
				t.Fatalf("List(%+v) = %v, want %v", tc.f, seqs(got), tc.want)
			}
		})
	}
}

func finish(t *testing.T, s audit.Store) {
	ctx := context.Background()
	r := rec(0, "c_a", "k_a", "/x/CreateClient")
	r.Outcome = audit.OutcomePending
	in := mustAppend(t, s, r)[0]
	if err := s.Finish(ctx, in.Seq, audit.OutcomeOK, "", []string{"client_id=c_new"}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	// A settled record stays as it was.
	if err := s.Finish(ctx, in.Seq, "Internal", "again", nil); !errors.Is(err, audit.ErrNotFound) {
		t.Fatalf("Finish again: %v, want ErrNotFound", err)
	}
	if err := s.Finish(ctx, in.Seq+100, audit.OutcomeOK, "", nil); !errors.Is(err, audit.ErrNotFound) {
		t.Fatalf("Finish unknown: %v, want ErrNotFound", err)
	}
	got, err := s.List(ctx, audit.Filter{Target: "c_new", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Outcome != audit.OutcomeOK {
		t.Fatalf("after Finish: %+v", got)
	}
}

func purge(t *testing.T, s audit.Store) {
	ctx := context.Background()
	in := mustAppend(t, s,
		rec(0, "c", "", "/x/A", "client_id=c_1"),
		rec(time.Hour, "c", "", "/x/B"),
		rec(2*time.Hour, "c", "", "/x/C"),
		rec(3*time.Hour, "c", "", "/x/D"))
	for _, tc := range []struct {
		name        string
		cutoff      time.Time
		limit       int
		wantN       int64
		wantLeft    []int64
		wantTargets int
	}{
		{"bounded", base.Add(150 * time.Minute), 1, 1, []int64{in[3].Seq, in[2].Seq, in[1].Seq}, 0},
		{"rest", base.Add(150 * time.Minute), 10, 2, []int64{in[3].Seq}, 0},
		{"nothing older", base.Add(150 * time.Minute), 10, 0, []int64{in[3].Seq}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := s.Purge(ctx, tc.cutoff, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.wantN {
				t.Fatalf("Purge = %d, want %d", n, tc.wantN)
			}
			got, err := s.List(ctx, audit.Filter{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqs(got), tc.wantLeft) {
				t.Fatalf("left %v, want %v", seqs(got), tc.wantLeft)
			}
			targeted, err := s.List(ctx, audit.Filter{Target: "c_1", Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(targeted) != tc.wantTargets {
				t.Fatalf("targets left: %d", len(targeted))
			}
		})
	}
}
