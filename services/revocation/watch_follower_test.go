package revocation_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
)

// apiKeyCreds sends an API key with every call, as an outside resource
// service would.
type apiKeyCreds string

func (k apiKeyCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "ApiKey " + string(k)}, nil
}

func (apiKeyCreds) RequireTransportSecurity() bool { return false }

// watchFollower is a follower of s without NATS, over gRPC, whose periodic
// re-sync is far beyond the test: only the stream can bring an entry.
func watchFollower(t testing.TB, s *served, opts ...revlist.Option) *revlist.Follower {
	t.Helper()
	src := revlist.ClientSource(s.client, grpc.PerRPCCredentials(apiKeyCreds("internal")))
	opts = append([]revlist.Option{
		revlist.WithLogger(slog.New(slog.DiscardHandler)),
		revlist.WithResyncInterval(time.Hour),
	}, opts...)
	fl := revlist.NewFollower(src, nil, opts...)
	if err := fl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fl.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return fl
}

// waitStreaming waits until fl's stream is open.
func waitStreaming(t testing.TB, fl *revlist.Follower) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !fl.Stats().Watching {
		if time.Now().After(deadline) {
			t.Fatal("the follower's stream did not open")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFollowerOverWatchWithoutNATS(t *testing.T) {
	svc := startService(t, newStore(t))
	s := serve(t, svc)
	fl := watchFollower(t, s)
	waitStreaming(t, fl)
	f := &fleet{svc: svc, followers: []*revlist.Follower{fl}}
	ret, call := measurePropagation(t, f, 20)
	t.Logf("the follower refuses, after Revoke returned: %s; after Revoke was called: %s", summary(ret), summary(call))
	if st := fl.Stats(); st.AppliedSeq != 20 || st.LogID != svc.LogID() {
		t.Fatalf("stats = %+v, want applied 20 of %s", st, svc.LogID())
	}
}

// Streams that end every ~100 ms (their lifetime) while entries are
// committed: the follower resumes each from its applied seq and has every
// entry, none from a re-sync.
func TestFollowerOverWatchResumesWithoutLoss(t *testing.T) {
	svc := startService(t, newStore(t), revocation.WithWatchLifetime(100*time.Millisecond))
	s := serve(t, svc)
	var mu sync.Mutex
	reconnects := 0
	fl := watchFollower(t, s, revlist.WithOnKeyEvent(func(ev *eventsv1.KeyRotated) {
		if ev == nil {
			mu.Lock()
			reconnects++
			mu.Unlock()
		}
	}))
	const n = 150
	for i := range n {
		revokeJTI(t, svc, fmt.Sprintf("jti-%d", i), time.Now().Add(time.Hour))
		time.Sleep(3 * time.Millisecond)
	}
	waitFor(t, 10*time.Second, "every entry at the follower", func() bool { return fl.Stats().AppliedSeq == n })
	for i := range n {
		if jti := fmt.Sprintf("jti-%d", i); !refusedBy(fl, jti) {
			t.Fatalf("%s not refused", jti)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if reconnects < 3 {
		t.Fatalf("the stream (re)connected %d times, want several", reconnects)
	}
	if st := fl.Stats(); st.Resyncs != 1 {
		t.Fatalf("re-syncs = %d, want the first snapshot only", st.Resyncs)
	}
}

func TestFollowerOverWatchKeyHook(t *testing.T) {
	svc := startService(t, newStore(t))
	s := serve(t, svc)
	events := make(chan *eventsv1.KeyRotated, 16)
	fl := watchFollower(t, s, revlist.WithOnKeyEvent(func(ev *eventsv1.KeyRotated) { events <- ev }))
	next := func() *eventsv1.KeyRotated {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no key event")
			return nil
		}
	}
	// Once connected: the key set may have changed meanwhile.
	if ev := next(); ev != nil {
		t.Fatalf("first key event = %v, want nil (connected)", ev)
	}
	waitStreaming(t, fl)
	waitWatches(t, svc, 1)
	svc.KeyRotated(&eventsv1.KeyRotated{Kid: "k9", State: "REMOVED", JwksVersion: 3})
	if ev := next(); ev.GetKid() != "k9" || ev.GetState() != "REMOVED" {
		t.Fatalf("key event = %v, want k9 REMOVED", ev)
	}
}

// BenchmarkWatchPropagation reports the delay until followers without
// NATS, streaming from Watch over a loopback gRPC connection, have applied
// a revocation: from Revoke returning, and from Revoke being called. The followers' OnApply hook marks the moment, so no poller
// competes with them for the machine's cores; each token is then checked
// refused. The time per op is Revoke plus the wait.
func BenchmarkWatchPropagation(b *testing.B) {
	for _, run := range []struct {
		store     string
		followers int
	}{{"sqlite", 1}, {"sqlite", 3}, {"postgres", 3}} {
		followers := run.followers
		b.Run(fmt.Sprintf("%s/followers=%d", run.store, followers), func(b *testing.B) {
			svc := startService(b, backends[run.store](b))
			s := serve(b, svc)
			applied := make(chan string, 16*followers)
			var fls []*revlist.Follower
			for range followers {
				fl := watchFollower(b, s, revlist.WithOnApply(func(e *revocationv1.Entry) { applied <- e.GetId() }))
				waitStreaming(b, fl)
				fls = append(fls, fl)
			}
			afterReturn := make([]time.Duration, 0, b.N)
			afterCall := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				jti := fmt.Sprintf("jti-%d", i)
				called := time.Now()
				revokeJTI(b, svc, jti, time.Now().Add(time.Hour))
				returned := time.Now()
				for range followers {
					select {
					case id := <-applied:
						if id != jti {
							b.Fatalf("applied %s, want %s", id, jti)
						}
					case <-time.After(5 * time.Second):
						b.Fatalf("revocation %d not applied by every follower within 5s", i)
					}
				}
				afterReturn = append(afterReturn, time.Since(returned))
				afterCall = append(afterCall, time.Since(called))
			}
			b.StopTimer()
			for _, fl := range fls {
				if !refusedBy(fl, fmt.Sprintf("jti-%d", b.N-1)) {
					b.Fatal("the last token is not refused")
				}
			}
			slices.Sort(afterReturn)
			slices.Sort(afterCall)
			ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
			b.ReportMetric(ms(percentile(afterReturn, 0.5)), "p50-ms-after-return")
			b.ReportMetric(ms(percentile(afterReturn, 0.99)), "p99-ms-after-return")
			b.ReportMetric(ms(afterReturn[len(afterReturn)-1]), "max-ms-after-return")
			b.ReportMetric(ms(percentile(afterCall, 0.5)), "p50-ms-after-call")
			b.ReportMetric(ms(percentile(afterCall, 0.99)), "p99-ms-after-call")
			b.ReportMetric(ms(afterCall[len(afterCall)-1]), "max-ms-after-call")
		})
	}
}
