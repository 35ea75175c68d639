package keys_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/kek"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

// TestConcurrentFirstStart: replicas starting together on an empty store
// must end up with exactly one active key, and all sign with it.
func TestConcurrentFirstStart(t *testing.T) {
	tests := []struct {
		name     string
		handles  int // database handles (processes)
		managers int // Managers, spread over the handles
		calls    int // concurrent first calls, spread over the Managers
		call     func(m *keys.Manager) error
	}{
		{"20 Tick calls on one Manager", 1, 1, 20, func(m *keys.Manager) error { return m.Tick(context.Background()) }},
		{"20 Managers starting on two handles", 2, 20, 20, func(m *keys.Manager) error { return m.Start(context.Background()) }},
		{"two Managers, 20 Tick calls", 2, 2, 20, func(m *keys.Manager) error { return m.Tick(context.Background()) }},
	}
	for _, b := range backends {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				stores, _ := b.open(t, tt.handles)
				clock := newClock()
				pub := &recorder{}
				k := newKEK(t)
				var ms []*keys.Manager
				for i := range tt.managers {
					ms = append(ms, newManager(t, stores[i%len(stores)], k, testOptions(clock, keys.WithPublisher(pub))...))
				}
				var wg sync.WaitGroup
				gate := make(chan struct{})
				for i := range tt.calls {
					wg.Go(func() {
						<-gate
						if err := tt.call(ms[i%len(ms)]); err != nil {
							t.Error(err)
						}
					})
				}
				close(gate)
				wg.Wait()
				if t.Failed() {
					return
				}
				all := states(t, stores[0])
				if len(all) != 1 {
					t.Fatalf("%d keys after concurrent first starts, want exactly 1: %v", len(all), all)
				}
				var kid string
				for k, s := range all {
					kid = k
					if s != keys.StateActive {
						t.Fatalf("the key is %s, want active", s)
					}
				}
				for i, m := range ms {
					if got := signingKID(t, m); got != kid {
						t.Errorf("Manager %d signs with %s, want %s", i, short(got), short(kid))
					}
				}
				if ev := pub.take(nil); len(ev) != 1 {
					t.Errorf("events %v, want one", ev)
				}
			})
		}
	}
}

// TestConcurrentTick: replicas ticking at the same due moment make each
// transition once.
func TestConcurrentTick(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			stores, _ := b.open(t, 2)
			clock := newClock()
			pub := &recorder{}
			k := newKEK(t)
			m1 := newManager(t, stores[0], k, testOptions(clock, keys.WithPublisher(pub))...)
			m2 := newManager(t, stores[1], k, testOptions(clock, keys.WithPublisher(pub))...)
			start(t, m1)
			start(t, m2)
			k1 := signingKID(t, m1)
			pub.take(nil)

			tickBoth := func(t *testing.T) {
				t.Helper()
				var wg sync.WaitGroup
				for range 5 {
					for _, m := range []*keys.Manager{m1, m2} {
						wg.Go(func() {
							if err := m.Tick(context.Background()); err != nil {
								t.Error(err)
							}
						})
					}
				}
				wg.Wait()
			}

			steps := []struct {
				name    string
				advance time.Duration
				events  int
				check   func(t *testing.T, st map[string]keys.State)
			}{
				{"rotation due: one pending key", testRotation - testLead, 1, func(t *testing.T, st map[string]keys.State) {
					if len(st) != 2 {
						t.Fatalf("%d keys, want 2", len(st))
					}
				}},
				{"activation due: one switch", testLead, 2, func(t *testing.T, st map[string]keys.State) {
					if st[k1] != keys.StateRetired || len(st) != 2 {
						t.Fatalf("states %v, want k1 retired and one active key", st)
					}
				}},
				{"removal due: one removal", testRetire, 1, func(t *testing.T, st map[string]keys.State) {
					if st[k1] != keys.StateRemoved {
						t.Fatalf("k1 is %s, want removed", st[k1])
					}
				}},
			}
			for _, s := range steps {
				t.Run(s.name, func(t *testing.T) {
					clock.Advance(s.advance)
					tickBoth(t)
					s.check(t, states(t, stores[0]))
					if ev := pub.take(nil); len(ev) != s.events {
						t.Errorf("events %v, want %d", ev, s.events)
					}
					if a, b := signingKID(t, m1), signingKID(t, m2); a != b {
						t.Errorf("replicas sign with different keys %s and %s", short(a), short(b))
					}
					_, e1, v1 := m1.JWKS()
					_, e2, v2 := m2.JWKS()
					if e1 != e2 || v1 != v2 {
						t.Errorf("replicas serve different JWKS: %s v%d and %s v%d", e1, v1, e2, v2)
					}
				})
			}
		})
	}
}

// TestReload: a change made by another replica reaches this one on Reload,
// and the listeners hear of it once.
func TestReload(t *testing.T) {
	stores, _ := openSQLite(t, 2)
	clock := newClock()
	k := newKEK(t)
	m1 := newManager(t, stores[0], k, testOptions(clock)...)
	m2 := newManager(t, stores[1], k, testOptions(clock)...)
	start(t, m1)
	start(t, m2)
	var mu sync.Mutex
	changes := 0
	m2.OnChange(func() {
		mu.Lock()
		defer mu.Unlock()
		changes++
	})
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return changes
	}
	k1 := signingKID(t, m2)
	nk, err := m1.EmergencyRotate(t.Context(), k1, "")
	if err != nil {
		t.Fatal(err)
	}
	if signingKID(t, m2) != k1 || count() != 0 {
		t.Fatal("m2 changed before it reloaded")
	}
	for range 2 {
		if err := m2.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := signingKID(t, m2); got != nk.KID {
		t.Errorf("m2 signs with %s after Reload, want %s", short(got), short(nk.KID))
	}
	if contains(jwksKIDs(t, m2), k1) {
		t.Error("m2 still publishes the compromised key")
	}
	if c := count(); c != 1 {
		t.Errorf("listeners ran %d times for one change, want 1", c)
	}
}

func TestPublishFailureDoesNotFailTheChange(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	logs := &logBuffer{}
	pub := &recorder{fail: context.DeadlineExceeded}
	m := newManager(t, stores[0], newKEK(t), testOptions(newClock(), keys.WithPublisher(pub), keys.WithLogger(logs.logger()))...)
	start(t, m)
	if _, err := m.Rotate(t.Context(), ""); err != nil {
		t.Fatalf("Rotate failed because publishing failed: %v", err)
	}
	if n := len(pub.take(nil)); n != 2 {
		t.Errorf("%d publish attempts, want 2", n)
	}
	if !strings.Contains(logs.String(), "publish KeyRotated failed") {
		t.Error("the failure was not logged")
	}
}

func TestNewValidatesOptions(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	k := newKEK(t)
	tests := []struct {
		name  string
		store keys.Store
		kek   *kek.KEK
		opts  []keys.Option
		want  string
	}{
		{"nil store", nil, k, nil, "nil store"},
		{"nil KEK", stores[0], nil, nil, "nil KEK"},
		{"unsupported algorithm", stores[0], k, []keys.Option{keys.WithAlgorithm("HS256")}, "algorithm"},
		{"small RSA", stores[0], k, []keys.Option{keys.WithRSABits(1024)}, "RSA key size"},
		{"lead shorter than max-age", stores[0], k, []keys.Option{keys.WithPublishLead(time.Minute), keys.WithJWKSMaxAge(5 * time.Minute)}, "publish lead"},
		{"rotation not longer than lead", stores[0], k, []keys.Option{keys.WithRotationInterval(time.Hour)}, "rotation interval"},
		{"negative rotation", stores[0], k, []keys.Option{keys.WithRotationInterval(-time.Hour)}, "rotation interval"},
		{"zero retire period", stores[0], k, []keys.Option{keys.WithRetirePeriod(0)}, "retire period"},
		{"zero max-age", stores[0], k, []keys.Option{keys.WithJWKSMaxAge(0)}, "max-age"},
		{"zero poll", stores[0], k, []keys.Option{keys.WithPollInterval(0)}, "poll interval"},
		{"nil clock", stores[0], k, []keys.Option{keys.WithClock(nil)}, "clock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keys.New(tt.store, tt.kek, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error about %q", err, tt.want)
			}
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		_, err := keys.New(nil, nil, keys.WithAlgorithm("x"), keys.WithRetirePeriod(0))
		for _, want := range []string{"nil store", "nil KEK", "algorithm", "retire period"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("New = %v, want it to mention %q", err, want)
			}
		}
	})
	t.Run("defaults are valid", func(t *testing.T) {
		if _, err := keys.New(stores[0], k); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStartAndClose(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	m := newManager(t, stores[0], newKEK(t), testOptions(newClock())...)
	if _, err := m.SigningKey(t.Context()); err != keys.ErrNotStarted { //nolint:errorlint // returned as is
		t.Errorf("SigningKey before Start = %v, want ErrNotStarted", err)
	}
	if body, etag, v := m.JWKS(); body != nil || etag != "" || v != 0 {
		t.Error("JWKS before Start is not empty")
	}
	m.Close() // before Start: nothing to stop
	m2 := newManager(t, stores[0], newKEK(t), testOptions(newClock())...)
	start(t, m2)
	if err := m2.Start(t.Context()); err == nil {
		t.Error("a second Start succeeded")
	}
	m2.Close()
	m2.Close()
	if err := m2.Start(t.Context()); err == nil {
		t.Error("Start after Close succeeded")
	}
}
