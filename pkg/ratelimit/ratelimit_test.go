package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestDefaultTiers(t *testing.T) {
	want := map[string]Tier{
		"low":      {5, 10},
		"standard": {50, 100},
		"high":     {500, 1000},
		"internal": {5000, 10000},
	}
	got := DefaultTiers()
	if len(got) != len(want) {
		t.Fatalf("DefaultTiers() has %d tiers, want %d", len(got), len(want))
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("tier %q = %+v, want %+v", name, got[name], w)
		}
	}
}

func TestAllowBurstThenRefuse(t *testing.T) {
	tests := []struct {
		name      string
		tier      string
		wantBurst int
		wantRetry time.Duration // after the burst is spent
	}{
		{name: "low", tier: "low", wantBurst: 10, wantRetry: 200 * time.Millisecond},
		{name: "standard", tier: "standard", wantBurst: 100, wantRetry: 20 * time.Millisecond},
		{name: "high", tier: "high", wantBurst: 1000, wantRetry: 2 * time.Millisecond},
		{name: "empty name is standard", tier: "", wantBurst: 100, wantRetry: 20 * time.Millisecond},
		{name: "unknown name is standard", tier: "platinum", wantBurst: 100, wantRetry: 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			l := New(DefaultTiers(), WithClock(clk.Now))
			for i := range tt.wantBurst {
				if ok, ra := l.Allow("client-a", tt.tier); !ok || ra != 0 {
					t.Fatalf("request %d: Allow = %v, %v; want true, 0", i+1, ok, ra)
				}
			}
			ok, ra := l.Allow("client-a", tt.tier)
			if ok {
				t.Fatalf("request %d allowed past the burst", tt.wantBurst+1)
			}
			if ra != tt.wantRetry {
				t.Fatalf("retryAfter = %v, want %v", ra, tt.wantRetry)
			}
			// Another key has its own bucket.
			if ok, _ := l.Allow("client-b", tt.tier); !ok {
				t.Fatal("another key was refused")
			}
			// After retryAfter exactly one more request passes.
			clk.Advance(ra)
			if ok, _ := l.Allow("client-a", tt.tier); !ok {
				t.Fatal("refused after waiting retryAfter")
			}
			if ok, _ := l.Allow("client-a", tt.tier); ok {
				t.Fatal("two requests allowed after one token's refill")
			}
		})
	}
}

func TestRetryAfterIsPrecise(t *testing.T) {
	clk := newClock()
	l := New(map[string]Tier{"slow": {Rate: 0.5, Burst: 1}}, WithClock(clk.Now))
	if ok, _ := l.Allow("k", "slow"); !ok {
		t.Fatal("first request refused")
	}
	clk.Advance(500 * time.Millisecond)
	ok, ra := l.Allow("k", "slow")
	if ok || ra != 1500*time.Millisecond {
		t.Fatalf("Allow = %v, %v; want false, 1.5s", ok, ra)
	}
}

func TestZeroRateTier(t *testing.T) {
	clk := newClock()
	l := New(map[string]Tier{"blocked": {Rate: 0, Burst: 0}}, WithClock(clk.Now))
	ok, ra := l.Allow("k", "blocked")
	if ok || ra != rate.InfDuration {
		t.Fatalf("Allow = %v, %v; want false, InfDuration", ok, ra)
	}
}

func TestTierChangeReplacesBucket(t *testing.T) {
	clk := newClock()
	l := New(DefaultTiers(), WithClock(clk.Now))
	for range 10 {
		l.Allow("k", "low")
	}
	if ok, _ := l.Allow("k", "low"); ok {
		t.Fatal("low tier not exhausted after 10")
	}
	// Upgraded to high: a fresh high bucket.
	for i := range 1000 {
		if ok, _ := l.Allow("k", "high"); !ok {
			t.Fatalf("high request %d refused after tier change", i+1)
		}
	}
	if ok, _ := l.Allow("k", "high"); ok {
		t.Fatal("high tier allowed past its burst")
	}
	// Downgraded again: a fresh low bucket, not the old spent one.
	if ok, _ := l.Allow("k", "low"); !ok {
		t.Fatal("refused right after downgrade")
	}
	if l.Len() != 1 {
		t.Fatalf("Len = %d, want 1", l.Len())
	}
}

func TestEvictionBoundsMemory(t *testing.T) {
	t.Run("full buckets are dropped first", func(t *testing.T) {
		clk := newClock()
		l := New(DefaultTiers(), WithClock(clk.Now), WithMaxKeys(3))
		l.Allow("a", "low")
		l.Allow("b", "low")
		for range 10 {
			l.Allow("busy", "low") // spent: must survive eviction
		}
		clk.Advance(time.Second) // a and b refill to 10, busy only to 5
		l.Allow("c", "low")
		if l.Len() != 2 {
			t.Fatalf("Len = %d, want 2 (a and b dropped)", l.Len())
		}
		for range 4 {
			l.Allow("busy", "low")
		}
		if ok, _ := l.Allow("busy", "low"); !ok {
			t.Fatal("busy's bucket was lost: 5th token refused")
		}
		if ok, _ := l.Allow("busy", "low"); ok {
			t.Fatal("busy's bucket was reset by eviction")
		}
	})
	t.Run("least recently used goes when none is full", func(t *testing.T) {
		clk := newClock()
		l := New(DefaultTiers(), WithClock(clk.Now), WithMaxKeys(2))
		for _, k := range []string{"old", "new"} {
			for range 10 {
				l.Allow(k, "low")
			}
			clk.Advance(time.Millisecond)
		}
		l.Allow("third", "low")
		if l.Len() != 2 {
			t.Fatalf("Len = %d, want 2", l.Len())
		}
		if ok, _ := l.Allow("new", "low"); ok {
			t.Fatal(`"new" was evicted instead of "old"`)
		}
	})
	t.Run("many keys stay bounded", func(t *testing.T) {
		clk := newClock()
		const max = 64 * 64
		l := New(DefaultTiers(), WithClock(clk.Now), WithMaxKeys(max))
		for i := range 5 * max {
			for range 10 {
				l.Allow(fmt.Sprint("k", i), "low")
			}
		}
		// Rounding per shard allows at most one extra key per shard.
		if n := l.Len(); n > max+64 {
			t.Fatalf("Len = %d, want <= %d", n, max+64)
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	clk := newClock()
	l := New(DefaultTiers(), WithClock(clk.Now))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := range 500 {
				if ok, _ := l.Allow("shared", "standard"); ok {
					n++
				}
				l.Allow(fmt.Sprint("own", g, i%7), "high")
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if allowed != 100 {
		t.Fatalf("allowed %d requests of a shared standard bucket with a frozen clock, want 100", allowed)
	}
}

func TestAllowDoesNotAllocate(t *testing.T) {
	l := New(DefaultTiers())
	l.Allow("client", "internal")
	allocs := testing.AllocsPerRun(1000, func() { l.Allow("client", "internal") })
	if allocs != 0 {
		t.Fatalf("Allow on an existing key allocates %v times", allocs)
	}
}

func BenchmarkAllowExisting(b *testing.B) {
	l := New(DefaultTiers())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow("client", "internal")
		}
	})
}
