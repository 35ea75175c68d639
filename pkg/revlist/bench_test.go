package revlist

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"runtime"
	"sync"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const benchEntries = 1_000_000

// uuidLike is a 36-character id derived from i, shaped like a UUID, as
// jtis are.
func uuidLike(i uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], i*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(b[8:], i)
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// fillTokens applies n access-token revocations expiring over the hour
// after t0, as revoked access tokens do.
func fillTokens(l *List, n int) {
	e := &revocationv1.Entry{Kind: kAccessToken, RevokeTime: timestamppb.New(t0)}
	for i := range n {
		e.Id = uuidLike(uint64(i))
		e.ExpireTime = timestamppb.New(t0.Add(time.Minute + time.Duration(i%3600)*time.Second))
		l.Apply(e, t0)
	}
}

// bigList is a list of a million access tokens plus a few entries of
// every other kind, so a check does all its lookups; built once.
var bigList = sync.OnceValue(func() *List {
	l := NewList()
	fillTokens(l, benchEntries)
	for i := range 100 {
		for _, k := range []revocationv1.Kind{kRefreshFamily, kAPIKey, kCertificate, kSigningKey} {
			l.Apply(entry(k, uuidLike(uint64(benchEntries+i)), t0.Add(time.Hour)), t0)
		}
		l.Apply(cutoffAt(kClient, uuidLike(uint64(benchEntries+i)), t0), t0)
		l.Apply(cutoffAt(kSubject, uuidLike(uint64(benchEntries+i)), t0), t0)
	}
	return l
})

// benchPrincipals are principals with every field set, whose jtis are in
// bigList (hit) or not (miss). Checks rotate through many of them, so the
// benchmark is not served from one hot cache line.
func benchPrincipals(hit bool) []authn.Principal {
	ps := make([]authn.Principal, 4096)
	for i := range ps {
		jti := uuidLike(uint64(i * 241))
		if !hit {
			jti = uuidLike(uint64(2*benchEntries + i))
		}
		ps[i] = authn.Principal{
			TokenID:      jti,
			FamilyID:     uuidLike(uint64(3*benchEntries + i)),
			ClientID:     "client-" + uuidLike(uint64(i%50)),
			Subject:      "user-" + uuidLike(uint64(i)),
			SigningKeyID: "kid-2030-01",
			IssuedAt:     t0.Add(time.Second),
		}
	}
	return ps
}

func BenchmarkListRevokedPrincipal(b *testing.B) {
	l := bigList()
	now := t0.Add(30 * time.Second)
	for _, tt := range []struct {
		name string
		hit  bool
	}{{"hit", true}, {"miss", false}} {
		b.Run(tt.name, func(b *testing.B) {
			ps := benchPrincipals(tt.hit)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if l.RevokedPrincipal(&ps[i&(len(ps)-1)], now) != tt.hit {
					b.Fatal("wrong answer")
				}
				i++
			}
		})
	}
	b.Run("empty", func(b *testing.B) {
		empty := NewList()
		ps := benchPrincipals(false)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if empty.RevokedPrincipal(&ps[i&(len(ps)-1)], now) {
				b.Fatal("wrong answer")
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		ps := benchPrincipals(false)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				l.RevokedPrincipal(&ps[i&(len(ps)-1)], now)
				i++
			}
		})
	})
}

func BenchmarkListRevokedClaims(b *testing.B) {
	l := bigList()
	now := t0.Add(30 * time.Second)
	c := &authn.Claims{JTI: uuidLike(2 * benchEntries), ClientID: "client-x", Subject: "user-x", KeyID: "kid", IssuedAt: t0}
	b.ReportAllocs()
	for b.Loop() {
		if l.RevokedClaims(c, now) {
			b.Fatal("wrong answer")
		}
	}
}

func BenchmarkFollowerCheckPrincipal(b *testing.B) {
	src := newFakeSource("log-a")
	f := NewFollower(src, nil, WithResyncInterval(time.Hour), WithLogger(discardLogger()),
		WithClock(func() time.Time { return t0.Add(30 * time.Second) }))
	if err := f.Resync(context.Background()); err != nil {
		b.Fatal(err)
	}
	f.list.Store(bigList())
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		hit  bool
	}{{"hit", true}, {"miss", false}} {
		b.Run(tt.name, func(b *testing.B) {
			ps := benchPrincipals(tt.hit)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r, err := f.CheckPrincipal(ctx, &ps[i&(len(ps)-1)])
				if err != nil || r != tt.hit {
					b.Fatal("wrong answer", err)
				}
				i++
			}
		})
	}
}

// BenchmarkListMemoryPerEntry reports the heap a million access-token
// entries (36-character ids, expiries spread over an hour) take, per
// entry, the expiry buckets included.
// BenchmarkListMemoryPerEntry measures once, whatever b.N: filling a
// million entries takes about a second, and repeating it says nothing
// more. Its ns/op is meaningless; bytes/entry is the figure.
func BenchmarkListMemoryPerEntry(b *testing.B) {
	perEntry := memoryPerEntry(benchEntries)
	b.ResetTimer()
	for range b.N {
	}
	b.ReportMetric(perEntry, "bytes/entry")
}

// memoryPerEntry is the live heap growth of filling a list with n
// entries, divided by n.
func memoryPerEntry(n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := NewList()
	fillTokens(l, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(l)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

func BenchmarkListApply(b *testing.B) {
	l := NewList()
	e := &revocationv1.Entry{Kind: kAccessToken, RevokeTime: timestamppb.New(t0)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.Id = uuidLike(uint64(i))
		e.ExpireTime = timestamppb.New(t0.Add(time.Minute + time.Duration(i%3600)*time.Second))
		l.Apply(e, t0)
		i++
	}
}

// BenchmarkListSteadyState runs a list of a million access tokens at a
// steady rate: each op revokes one more token (a million an hour of
// virtual time, each living an hour) and every 30 virtual seconds the list
// is swept. ns/op is one apply plus its share of the sweeps, which stays
// close to BenchmarkListApply because a sweep costs what it frees.
func BenchmarkListSteadyState(b *testing.B) {
	l := NewList()
	fillTokens(l, benchEntries)
	const step = time.Hour / benchEntries
	const sweepEvery = int(30 * time.Second / step)
	now := t0
	e := &revocationv1.Entry{Kind: kAccessToken, RevokeTime: timestamppb.New(t0)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(step)
		e.Id = uuidLike(uint64(benchEntries + i))
		e.ExpireTime = timestamppb.New(now.Add(time.Hour))
		l.Apply(e, now)
		if i%sweepEvery == 0 {
			l.Sweep(now)
		}
		i++
	}
	b.ReportMetric(float64(l.Len()), "entries")
}
