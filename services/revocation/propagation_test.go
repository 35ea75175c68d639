package revocation_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
	"github.com/gatehouse-dev/gatehouse/services/revocation/sqlstore"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// broker is a NATS server with JetStream on a fixed loopback port, so it
// can be stopped and started again at the same address.
type broker struct {
	t    testing.TB
	port int
	dir  string
	srv  *server.Server
}

func newBroker(t testing.TB) *broker {
	t.Helper()
	b := &broker{t: t, port: freePort(t), dir: t.TempDir()}
	b.start()
	return b
}

func (b *broker) start() { b.srv = startNATS(b.t, b.port, b.dir) }

func (b *broker) stop() { stopNATS(b.srv) }

func (b *broker) url() string { return "nats://127.0.0.1:" + strconv.Itoa(b.port) }

func (b *broker) connect(name string) *nats.Conn { return connect(b.t, b.url(), name) }

// fleet is a revocation service and followers, each on its own NATS
// connection, as validators in separate processes would be.
type fleet struct {
	svc       *revocation.Service
	followers []*revlist.Follower
}

// backends are the stores a fleet can run on, by dbtest.Backends name;
// PostgreSQL skips locally when absent (and fails under CI).
var backends = func() map[string]func(t testing.TB) revocation.Store {
	m := map[string]func(t testing.TB) revocation.Store{}
	for _, be := range dbtest.Backends {
		m[be.Name] = func(t testing.TB) revocation.Store {
			st, err := sqlstore.New(context.Background(), be.Open(t))
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
	}
	return m
}()

func newFleet(t testing.TB, b *broker, store revocation.Store, n int, opts ...revlist.Option) *fleet {
	t.Helper()
	svc := revocation.New(store, revocation.WithNATS(b.connect("revocation")), revocation.WithOutboxInterval(200*time.Millisecond))
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	f := &fleet{svc: svc}
	for i := range n {
		f.add(t, b, fmt.Sprintf("validator-%d", i), opts...)
	}
	return f
}

func (f *fleet) add(t testing.TB, b *broker, name string, opts ...revlist.Option) *revlist.Follower {
	t.Helper()
	opts = append([]revlist.Option{revlist.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	fl := revlist.NewFollower(f.svc, b.connect(name), opts...)
	if err := fl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fl.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	f.followers = append(f.followers, fl)
	return fl
}

func (f *fleet) revoke(t testing.TB, jti string) {
	t.Helper()
	_, err := f.svc.Revoke(context.Background(), &revocationv1.RevokeRequest{
		Kind: revocationv1.Kind_KIND_ACCESS_TOKEN, Id: jti, Reason: "test",
		ExpireTime: timestamppb.New(time.Now().Add(time.Hour)),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// refusedByAll reports whether every follower refuses the token jti.
func refusedBy(fl *revlist.Follower, jti string) bool {
	p := &authn.Principal{TokenID: jti, ClientID: "c", Subject: "c"}
	revoked, err := fl.CheckPrincipal(context.Background(), p)
	return err == nil && revoked
}

// waitAll waits (bounded) until every follower refuses jti, returning
// how long after start that was.
func (f *fleet) waitAll(jti string, start time.Time, limit time.Duration) (time.Duration, bool) {
	pending := slices.Clone(f.followers)
	for time.Since(start) < limit {
		pending = slices.DeleteFunc(pending, func(fl *revlist.Follower) bool { return refusedBy(fl, jti) })
		if len(pending) == 0 {
			return time.Since(start), true
		}
		// Polling must not starve the followers' NATS readers of the
		// machine's two cores.
		runtime.Gosched()
	}
	return time.Since(start), false
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// measurePropagation revokes n tokens one after another, and after each
// Revoke returns, polls every follower until all refuse it. It returns the
// delays from Revoke returning and from Revoke being called (commit,
// publish and apply), each sorted.
func measurePropagation(t testing.TB, f *fleet, n int) (afterReturn, afterCall []time.Duration) {
	t.Helper()
	afterReturn = make([]time.Duration, 0, n)
	afterCall = make([]time.Duration, 0, n)
	for i := range n {
		jti := fmt.Sprintf("jti-%d-%d", time.Now().UnixNano(), i)
		called := time.Now()
		f.revoke(t, jti)
		d, ok := f.waitAll(jti, time.Now(), 5*time.Second)
		if !ok {
			t.Fatalf("revocation %d not seen by every follower within 5s", i)
		}
		afterReturn = append(afterReturn, d)
		afterCall = append(afterCall, time.Since(called))
	}
	slices.Sort(afterReturn)
	slices.Sort(afterCall)
	return afterReturn, afterCall
}

func summary(d []time.Duration) string {
	return fmt.Sprintf("p50 %v, p99 %v, max %v", percentile(d, 0.5), percentile(d, 0.99), d[len(d)-1])
}

// TestRevocationReachesEveryFollower: each revocation reaches three
// followers on separate NATS connections. The delays are logged; the
// figures to quote come from BenchmarkRevocationPropagation.
func TestRevocationReachesEveryFollower(t *testing.T) {
	for name, newStore := range backends {
		t.Run(name, func(t *testing.T) {
			b := newBroker(t)
			f := newFleet(t, b, newStore(t), 3)
			ret, call := measurePropagation(t, f, 100)
			t.Logf("all 3 followers refuse, after Revoke returned: %s; after Revoke was called: %s", summary(ret), summary(call))
		})
	}
}

// BenchmarkRevocationPropagation reports the delay until every one of
// three followers refuses the token: from Revoke returning, and from
// Revoke being called.
// The time per op is the whole loop: Revoke (commit and JetStream
// publish) plus the wait.
func BenchmarkRevocationPropagation(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			br := newBroker(b)
			f := newFleet(b, br, backends[name](b), 3)
			b.ResetTimer()
			ret, call := measurePropagation(b, f, b.N)
			b.StopTimer()
			us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
			b.ReportMetric(us(percentile(ret, 0.5)), "p50-µs-after-return")
			b.ReportMetric(us(percentile(ret, 0.99)), "p99-µs-after-return")
			b.ReportMetric(us(ret[len(ret)-1]), "max-µs-after-return")
			b.ReportMetric(us(percentile(call, 0.5)), "p50-µs-after-call")
			b.ReportMetric(us(percentile(call, 0.99)), "p99-µs-after-call")
			b.ReportMetric(us(call[len(call)-1]), "max-µs-after-call")
		})
	}
}

// TestRevocationSurvivesBrokerOutage: revocations made while NATS is down
// reach every follower within the re-sync period, none is lost, and a
// follower started afterwards has them all.
func TestRevocationSurvivesBrokerOutage(t *testing.T) {
	const resync = time.Second
	b := newBroker(t)
	f := newFleet(t, b, backends["sqlite"](t), 3, revlist.WithResyncInterval(resync))
	f.revoke(t, "before-outage")
	if _, ok := f.waitAll("before-outage", time.Now(), 5*time.Second); !ok {
		t.Fatal("revocation before the outage not propagated")
	}

	b.stop()
	var during []string
	for i := range 5 {
		jti := fmt.Sprintf("during-outage-%d", i)
		start := time.Now()
		f.revoke(t, jti)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("Revoke with NATS down took %v", took)
		}
		during = append(during, jti)
	}
	stopped := time.Now()
	var wg sync.WaitGroup
	for _, jti := range during {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The re-sync tick reaches the service directly: within the
			// period (plus scheduling slack), NATS or not.
			if d, ok := f.waitAll(jti, stopped, resync+3*time.Second); !ok {
				t.Errorf("%s not refused by every follower within %v of the outage (%v)", jti, resync+3*time.Second, d)
			}
		}()
	}
	wg.Wait()

	b.start()
	late := f.add(t, b, "late-validator")
	for _, jti := range append(during, "before-outage") {
		if !refusedBy(late, jti) {
			t.Errorf("a follower started after the outage does not refuse %s", jti)
		}
	}
	// And the fast path works again once the broker is back.
	f.revoke(t, "after-outage")
	if _, ok := f.waitAll("after-outage", time.Now(), 5*time.Second); !ok {
		t.Fatal("revocation after the broker came back not propagated")
	}
}
