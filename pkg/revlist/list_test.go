package revlist

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// t0 is minute-aligned, so tests know which expiry bucket a time falls in.
var t0 = time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)

// entry is a revocation of kind k and id revoked at t0, expiring at exp
// (never when zero).
func entry(k revocationv1.Kind, id string, exp time.Time) *revocationv1.Entry {
	e := &revocationv1.Entry{Kind: k, Id: id, RevokeTime: timestamppb.New(t0)}
	if !exp.IsZero() {
		e.ExpireTime = timestamppb.New(exp)
	}
	return e
}

// cutoffAt is a cut-off entry of kind k and id revoked at at.
func cutoffAt(k revocationv1.Kind, id string, at time.Time) *revocationv1.Entry {
	e := entry(k, id, t0.Add(24*time.Hour))
	e.RevokeTime = timestamppb.New(at)
	return e
}

// fullPrincipal has every field the list looks at set to a value no test
// entry uses, so a case changes only the field it is about.
func fullPrincipal() authn.Principal {
	return authn.Principal{
		TokenID:      "jti-other",
		FamilyID:     "fam-other",
		KeyID:        "key-other",
		ClientID:     "client-other",
		Subject:      "subject-other",
		CertSerial:   "serial-other",
		SigningKeyID: "kid-other",
		IssuedAt:     t0.Add(-time.Hour),
	}
}

func fullClaims() authn.Claims {
	return authn.Claims{
		JTI:      "jti-other",
		ClientID: "client-other",
		Subject:  "subject-other",
		KeyID:    "kid-other",
		IssuedAt: t0.Add(-time.Hour),
	}
}

func TestListRevokedPrincipal(t *testing.T) {
	exp := t0.Add(time.Hour)
	tests := []struct {
		name  string
		entry *revocationv1.Entry
		edit  func(p *authn.Principal)
		want  bool
	}{
		{"access token by jti", entry(kAccessToken, "jti-1", exp), func(p *authn.Principal) { p.TokenID = "jti-1" }, true},
		{"other jti", entry(kAccessToken, "jti-1", exp), func(p *authn.Principal) { p.TokenID = "jti-2" }, false},
		{"refresh family", entry(kRefreshFamily, "fam-1", exp), func(p *authn.Principal) { p.FamilyID = "fam-1" }, true},
		{"api key by key id", entry(kAPIKey, "key-1", exp), func(p *authn.Principal) { p.KeyID = "key-1" }, true},
		{"certificate by serial", entry(kCertificate, "0a1b", exp), func(p *authn.Principal) { p.CertSerial = "0a1b" }, true},
		{"signing key by kid", entry(kSigningKey, "kid-1", exp), func(p *authn.Principal) { p.SigningKeyID = "kid-1" }, true},
		{"client issued before", cutoffAt(kClient, "client-1", t0), func(p *authn.Principal) { p.ClientID = "client-1" }, true},
		{"client issued after", cutoffAt(kClient, "client-1", t0), func(p *authn.Principal) {
			p.ClientID, p.IssuedAt = "client-1", t0.Add(time.Second)
		}, false},
		{"client without issue time", cutoffAt(kClient, "client-1", t0), func(p *authn.Principal) {
			p.ClientID, p.IssuedAt = "client-1", time.Time{}
		}, false},
		{"subject issued before", cutoffAt(kSubject, "alice", t0), func(p *authn.Principal) { p.Subject = "alice" }, true},
		{"subject issued after", cutoffAt(kSubject, "alice", t0), func(p *authn.Principal) {
			p.Subject, p.IssuedAt = "alice", t0.Add(time.Second)
		}, false},
		{"kinds are separate: api key id is not a jti", entry(kAPIKey, "x", exp), func(p *authn.Principal) { p.TokenID = "x" }, false},
		{"kinds are separate: client id is not a subject", cutoffAt(kClient, "c", t0), func(p *authn.Principal) { p.Subject = "c" }, false},
		{"empty principal", entry(kAccessToken, "jti-1", exp), func(p *authn.Principal) { *p = authn.Principal{} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewList()
			l.Apply(tt.entry, t0)
			p := fullPrincipal()
			tt.edit(&p)
			if got := l.RevokedPrincipal(&p, t0); got != tt.want {
				t.Errorf("RevokedPrincipal = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListRevokedClaims(t *testing.T) {
	exp := t0.Add(time.Hour)
	tests := []struct {
		name  string
		entry *revocationv1.Entry
		edit  func(c *authn.Claims)
		want  bool
	}{
		{"jti", entry(kAccessToken, "jti-1", exp), func(c *authn.Claims) { c.JTI = "jti-1" }, true},
		{"other jti", entry(kAccessToken, "jti-1", exp), func(c *authn.Claims) { c.JTI = "jti-2" }, false},
		{"signing key", entry(kSigningKey, "kid-1", exp), func(c *authn.Claims) { c.KeyID = "kid-1" }, true},
		{"grant", entry(kRefreshFamily, "fam-1", exp), func(c *authn.Claims) { c.FamilyID = "fam-1" }, true},
		{"other grant", entry(kRefreshFamily, "fam-1", exp), func(c *authn.Claims) { c.FamilyID = "fam-2" }, false},
		{"api key id is not a kid", entry(kAPIKey, "kid-1", exp), func(c *authn.Claims) { c.KeyID = "kid-1" }, false},
		{"client issued before", cutoffAt(kClient, "client-1", t0), func(c *authn.Claims) { c.ClientID = "client-1" }, true},
		{"client issued after", cutoffAt(kClient, "client-1", t0), func(c *authn.Claims) {
			c.ClientID, c.IssuedAt = "client-1", t0.Add(time.Second)
		}, false},
		{"subject issued before", cutoffAt(kSubject, "alice", t0), func(c *authn.Claims) { c.Subject = "alice" }, true},
		{"subject without issue time", cutoffAt(kSubject, "alice", t0), func(c *authn.Claims) {
			c.Subject, c.IssuedAt = "alice", time.Time{}
		}, false},
		{"empty claims", entry(kAccessToken, "jti-1", exp), func(c *authn.Claims) { *c = authn.Claims{} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewList()
			l.Apply(tt.entry, t0)
			c := fullClaims()
			tt.edit(&c)
			if got := l.RevokedClaims(&c, t0); got != tt.want {
				t.Errorf("RevokedClaims = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListCutoffBoundary(t *testing.T) {
	cut := t0.Add(-time.Minute)
	tests := []struct {
		name   string
		issued time.Time
		want   bool
	}{
		{"issued at the revoke time", cut, true},
		{"issued 1ns after", cut.Add(time.Nanosecond), false},
		{"issued 1ns before", cut.Add(-time.Nanosecond), true},
		{"issued long before", cut.Add(-24 * time.Hour), true},
		{"no issue time", time.Time{}, false},
	}
	for _, kind := range []revocationv1.Kind{kClient, kSubject} {
		for _, tt := range tests {
			t.Run(KindName(kind)+"/"+tt.name, func(t *testing.T) {
				l := NewList()
				l.Apply(cutoffAt(kind, "x", cut), t0)
				p := authn.Principal{ClientID: "x", Subject: "x", IssuedAt: tt.issued}
				if got := l.RevokedPrincipal(&p, t0); got != tt.want {
					t.Errorf("RevokedPrincipal = %v, want %v", got, tt.want)
				}
				c := authn.Claims{ClientID: "x", Subject: "x", IssuedAt: tt.issued}
				if got := l.RevokedClaims(&c, t0); got != tt.want {
					t.Errorf("RevokedClaims = %v, want %v", got, tt.want)
				}
			})
		}
	}
}

func TestListCutoffWithoutRevokeTimeFailsClosed(t *testing.T) {
	l := NewList()
	e := entry(kClient, "c", t0.Add(time.Hour))
	e.RevokeTime = nil
	l.Apply(e, t0)
	p := authn.Principal{ClientID: "c", IssuedAt: t0.Add(time.Minute)}
	if !l.RevokedPrincipal(&p, t0.Add(2*time.Minute)) {
		t.Error("a client entry without revoke time did not refuse the client's credentials")
	}
}

func TestListExpiry(t *testing.T) {
	tok := func(id string) *authn.Principal { return &authn.Principal{TokenID: id} }
	l := NewList()
	l.Apply(entry(kAccessToken, "short", t0.Add(time.Minute)), t0)
	l.Apply(entry(kAccessToken, "long", t0.Add(time.Hour)), t0)
	l.Apply(entry(kAccessToken, "forever", time.Time{}), t0)
	l.Apply(entry(kAccessToken, "expired", t0), t0) // expires at now: not stored
	l.Apply(entry(kAccessToken, "past", t0.Add(-time.Hour)), t0)
	if l.Len() != 3 {
		t.Fatalf("Len = %d, want 3 (expired entries are not stored)", l.Len())
	}

	tests := []struct {
		id   string
		at   time.Time
		want bool
	}{
		{"short", t0.Add(time.Minute - time.Nanosecond), true},
		{"short", t0.Add(time.Minute), false}, // present, but expired
		{"long", t0.Add(time.Minute), true},
		{"forever", t0.Add(100 * 365 * 24 * time.Hour), true},
		{"expired", t0, false},
	}
	for _, tt := range tests {
		if got := l.RevokedPrincipal(tok(tt.id), tt.at); got != tt.want {
			t.Errorf("%s at %v: revoked = %v, want %v", tt.id, tt.at.Sub(t0), got, tt.want)
		}
	}
	if l.Len() != 3 {
		t.Fatalf("Len = %d before Sweep, want 3", l.Len())
	}

	sweeps := []struct {
		at      time.Duration
		freed   int
		wantLen int
	}{
		{time.Minute - time.Nanosecond, 0, 3},
		{time.Minute, 1, 2},
		{time.Minute, 0, 2},
		{time.Hour, 1, 1},
		{1000 * time.Hour, 0, 1}, // "forever" has no bucket
	}
	for _, s := range sweeps {
		if got := l.Sweep(t0.Add(s.at)); got != s.freed {
			t.Errorf("Sweep(+%v) = %d, want %d", s.at, got, s.freed)
		}
		if l.Len() != s.wantLen {
			t.Errorf("after Sweep(+%v): Len = %d, want %d", s.at, l.Len(), s.wantLen)
		}
	}
}

func TestListOverwrite(t *testing.T) {
	tok := &authn.Principal{TokenID: "a"}
	tests := []struct {
		name string
		run  func(t *testing.T, l *List)
	}{
		{"cut-off moves", func(t *testing.T, l *List) {
			p := &authn.Principal{ClientID: "c", IssuedAt: t0.Add(30 * time.Second)}
			l.Apply(cutoffAt(kClient, "c", t0), t0)
			if l.RevokedPrincipal(p, t0.Add(time.Minute)) {
				t.Fatal("credential issued after the first cut-off is revoked")
			}
			l.Apply(cutoffAt(kClient, "c", t0.Add(time.Minute)), t0.Add(time.Minute))
			if !l.RevokedPrincipal(p, t0.Add(time.Minute)) {
				t.Error("credential issued before the second cut-off is not revoked")
			}
			if l.Len() != 1 {
				t.Errorf("Len = %d, want 1", l.Len())
			}
		}},
		{"expiry extended survives the old bucket", func(t *testing.T, l *List) {
			l.Apply(entry(kAccessToken, "a", t0.Add(time.Minute)), t0)
			l.Apply(entry(kAccessToken, "a", t0.Add(10*time.Minute)), t0)
			if n := l.Sweep(t0.Add(2 * time.Minute)); n != 0 {
				t.Errorf("Sweep freed %d, want 0", n)
			}
			if !l.RevokedPrincipal(tok, t0.Add(2*time.Minute)) {
				t.Error("entry with an extended expiry is not revoked")
			}
			if n := l.Sweep(t0.Add(10 * time.Minute)); n != 1 {
				t.Errorf("Sweep at the new expiry freed %d, want 1", n)
			}
		}},
		{"expiry shortened", func(t *testing.T, l *List) {
			l.Apply(entry(kAccessToken, "a", t0.Add(10*time.Minute)), t0)
			l.Apply(entry(kAccessToken, "a", t0.Add(time.Minute)), t0)
			if l.RevokedPrincipal(tok, t0.Add(2*time.Minute)) {
				t.Error("entry revoked after its shortened expiry")
			}
			if n := l.Sweep(t0.Add(2 * time.Minute)); n != 1 {
				t.Errorf("Sweep freed %d, want 1", n)
			}
			if n := l.Sweep(t0.Add(time.Hour)); n != 0 {
				t.Errorf("second Sweep freed %d, want 0 (stale reference)", n)
			}
		}},
		{"re-applied identical entry counts once", func(t *testing.T, l *List) {
			for range 3 {
				l.Apply(entry(kAccessToken, "a", t0.Add(time.Minute)), t0)
			}
			if l.Len() != 1 {
				t.Errorf("Len = %d, want 1", l.Len())
			}
			if n := l.Sweep(t0.Add(time.Hour)); n != 1 {
				t.Errorf("Sweep freed %d, want 1", n)
			}
			if l.Len() != 0 {
				t.Errorf("Len after Sweep = %d, want 0", l.Len())
			}
		}},
		{"overwrite with an expired entry removes", func(t *testing.T, l *List) {
			l.Apply(entry(kAccessToken, "a", t0.Add(time.Hour)), t0)
			l.Apply(entry(kAccessToken, "a", t0.Add(-time.Second)), t0)
			if l.RevokedPrincipal(tok, t0) || l.Len() != 0 {
				t.Errorf("revoked = %v, Len = %d; want false, 0", l.RevokedPrincipal(tok, t0), l.Len())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, NewList()) })
	}
}

func TestListSweepPartialBucket(t *testing.T) {
	l := NewList()
	// All in the bucket of t0's minute.
	for i, d := range []time.Duration{10, 20, 30, 40} {
		l.Apply(entry(kAccessToken, fmt.Sprint("t", i), t0.Add(d*time.Second)), t0)
	}
	steps := []struct {
		at    time.Duration
		freed int
		left  int
	}{
		{5 * time.Second, 0, 4},
		{20 * time.Second, 2, 2},
		{35 * time.Second, 1, 1},
	}
	for _, s := range steps {
		if got := l.Sweep(t0.Add(s.at)); got != s.freed {
			t.Errorf("Sweep(+%v) = %d, want %d", s.at, got, s.freed)
		}
		if l.Len() != s.left {
			t.Errorf("after Sweep(+%v): Len = %d, want %d", s.at, l.Len(), s.left)
		}
	}
	if !l.RevokedPrincipal(&authn.Principal{TokenID: "t3"}, t0.Add(35*time.Second)) {
		t.Error("entry not yet expired in a partly swept bucket is not revoked")
	}
	if got := l.Sweep(t0.Add(time.Minute)); got != 1 || l.Len() != 0 {
		t.Errorf("Sweep(+1m) = %d, Len = %d; want 1, 0", got, l.Len())
	}
}

// TestListSweepCost checks that a sweep examines what expires, not the
// whole list.
func TestListSweepCost(t *testing.T) {
	l := NewList()
	const long, short = 10000, 100
	for i := range long {
		l.Apply(entry(kAccessToken, fmt.Sprint("long-", i), t0.Add(time.Hour+time.Duration(i)*time.Millisecond)), t0)
	}
	for i := range short {
		l.Apply(entry(kAPIKey, fmt.Sprint("short-", i), t0.Add(time.Duration(i+1)*time.Second/10)), t0)
	}
	steps := []struct {
		at                time.Duration
		freed, maxVisited int
	}{
		{2 * time.Minute, short, short},
		{3 * time.Minute, 0, 0},
		{59 * time.Minute, 0, 0},
	}
	for _, s := range steps {
		before := l.visited
		if got := l.Sweep(t0.Add(s.at)); got != s.freed {
			t.Errorf("Sweep(+%v) = %d, want %d", s.at, got, s.freed)
		}
		if v := l.visited - before; v > s.maxVisited {
			t.Errorf("Sweep(+%v) examined %d references, want at most %d", s.at, v, s.maxVisited)
		}
	}
	if l.Len() != long {
		t.Errorf("Len = %d, want %d", l.Len(), long)
	}
	if got := l.Sweep(t0.Add(2 * time.Hour)); got != long {
		t.Errorf("final Sweep = %d, want %d", got, long)
	}
}

func TestListIgnoresUnusableEntries(t *testing.T) {
	tests := []struct {
		name string
		e    *revocationv1.Entry
	}{
		{"nil", nil},
		{"unspecified kind", entry(revocationv1.Kind_KIND_UNSPECIFIED, "x", time.Time{})},
		{"unknown kind", entry(revocationv1.Kind(99), "x", time.Time{})},
		{"negative kind", entry(revocationv1.Kind(-1), "x", time.Time{})},
		{"empty id", entry(kAccessToken, "", time.Time{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewList()
			l.Apply(tt.e, t0)
			if l.Len() != 0 {
				t.Errorf("Len = %d, want 0", l.Len())
			}
		})
	}
}

func TestListReset(t *testing.T) {
	l := NewList()
	l.Apply(entry(kAccessToken, "a", t0.Add(time.Hour)), t0)
	l.Apply(cutoffAt(kSubject, "s", t0), t0)
	l.Reset()
	if l.Len() != 0 || l.RevokedPrincipal(&authn.Principal{TokenID: "a"}, t0) {
		t.Fatal("Reset left entries")
	}
	if n := l.Sweep(t0.Add(2 * time.Hour)); n != 0 {
		t.Errorf("Sweep after Reset = %d, want 0", n)
	}
	l.Apply(entry(kAccessToken, "b", t0.Add(time.Hour)), t0)
	if !l.RevokedPrincipal(&authn.Principal{TokenID: "b"}, t0) {
		t.Error("list unusable after Reset")
	}
}

// TestListConcurrent runs readers against writers and sweeps; run with
// -race.
func TestListConcurrent(t *testing.T) {
	l := NewList()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 4 {
		wg.Go(func() {
			p := &authn.Principal{TokenID: fmt.Sprint("t", r), ClientID: "c", IssuedAt: t0}
			for {
				select {
				case <-stop:
					return
				default:
					l.RevokedPrincipal(p, t0.Add(30*time.Second))
					l.RevokedClaims(&authn.Claims{JTI: p.TokenID}, t0)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 2000 {
			l.Apply(entry(kAccessToken, fmt.Sprint("t", i%10), t0.Add(time.Duration(i%120)*time.Second)), t0)
			l.Apply(cutoffAt(kClient, "c", t0), t0)
		}
	})
	wg.Go(func() {
		for i := range 200 {
			l.Sweep(t0.Add(time.Duration(i) * time.Second))
		}
	})
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	l.Sweep(t0.Add(time.Hour))
	if l.Len() != 1 { // the client entry expires after a day
		t.Errorf("Len = %d, want 1", l.Len())
	}
}

func TestNanosClamp(t *testing.T) {
	tests := []struct {
		name string
		got  int64
		want int64
	}{
		{"far future time", unixNanos(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)), math.MaxInt64},
		{"far past time", unixNanos(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)), math.MinInt64},
		{"ordinary time", unixNanos(t0.Add(5)), t0.UnixNano() + 5},
		{"nil timestamp", tsNanos(nil, 42), 42},
		{"far future timestamp", tsNanos(timestamppb.New(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)), 0), math.MaxInt64},
		{"ordinary timestamp", tsNanos(timestamppb.New(t0), 0), t0.UnixNano()},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

func TestBucketRetain(t *testing.T) {
	tests := []struct {
		name string
		n    int
		keep func(i int) bool
	}{
		{"keep all", 1300, func(int) bool { return true }},
		{"keep none", 1300, func(int) bool { return false }},
		{"keep evens", 1300, func(i int) bool { return i%2 == 0 }},
		{"keep the last", 1300, func(i int) bool { return i == 1299 }},
		{"keep the first chunk", 1300, func(i int) bool { return i < chunkSize }},
		{"small", 3, func(i int) bool { return i == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bucket
			var want []string
			for i := range tt.n {
				id := fmt.Sprint(i)
				b.add(id)
				if tt.keep(i) {
					want = append(want, id)
				}
			}
			b.retain(func(id string) bool {
				var i int
				_, _ = fmt.Sscan(id, &i)
				return tt.keep(i)
			})
			var got []string
			for ci, c := range b.chunks {
				if len(c) == 0 || (ci < len(b.chunks)-1 && len(c) != chunkSize) {
					t.Fatalf("chunk %d of %d holds %d ids", ci, len(b.chunks), len(c))
				}
				got = append(got, c...)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("kept %d ids, want %d (%v...)", len(got), len(want), got[:min(len(got), 5)])
			}
			b.add("new") // the bucket still grows after compaction
		})
	}
}
