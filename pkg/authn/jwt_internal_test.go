package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
)

func TestForEachMember(t *testing.T) {
	many := func(n int, last string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, `"m%d":%d,`, i, i)
		}
		b.WriteString(last + "}")
		return b.String()
	}
	tests := []struct {
		name    string
		in      string
		want    string // name=value pairs, space-separated
		wantErr error
	}{
		{name: "empty object", in: ` { } `, want: ""},
		{name: "scalars", in: `{"a":1,"b":true,"c":null,"d":-1.5e3}`, want: "a=1 b=true c=null d=-1.5e3"},
		{name: "whitespace", in: "{ \"a\" :\t\"x\" ,\n\"b\"\r: [ ] }", want: `a="x" b=[ ]`},
		{name: "nested values skipped whole", in: `{"a":{"x":[1,{"y":"}]"}]},"b":"q\"}"}`, want: `a={"x":[1,{"y":"}]"}]} b="q\"}"`},
		{name: "escaped name decoded", in: `{"\u0061lg":"x"}`, want: `alg="x"`},
		{name: "duplicate", in: `{"a":1,"a":2}`, wantErr: errDuplicateMember},
		{name: "duplicate after escape", in: `{"alg":1,"a\u006cg":2}`, wantErr: errDuplicateMember},
		{name: "duplicate with other members between", in: `{"a":1,"b":2,"c":3,"a":4}`, wantErr: errDuplicateMember},
		{name: "nested duplicates are not the header's", in: `{"a":{"x":1,"x":2}}`, want: `a={"x":1,"x":2}`},
		{name: "many members", in: many(40, `"last":0`), want: ""},
		{name: "duplicate among many", in: many(40, `"m3":0`), wantErr: errDuplicateMember},
		{name: "not an object", in: `[1]`, wantErr: errMalformedJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := forEachMember([]byte(tt.in), func(name, value []byte) error {
				got = append(got, string(name)+"="+string(value))
				return nil
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err == nil && tt.name != "many members" && strings.Join(got, " ") != tt.want {
				t.Fatalf("members %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}
}

func TestScannerNeverPanicsOnTruncation(t *testing.T) {
	// The scanner runs on validated JSON; it must still not panic on any
	// prefix of it.
	doc := `{"a":{"x":[1,{"y":"}]\"\\"}]},"b":"q\"}","c":[1,2,"]"],"d":12}`
	for i := range len(doc) {
		_ = forEachMember([]byte(doc[:i]), func(_, v []byte) error {
			_ = forEachElement(v, func([]byte) error { return nil })
			return nil
		})
	}
}

func TestNumericDate(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{in: "0", want: time.Unix(0, 0), ok: true},
		{in: "1893553445", want: time.Unix(1893553445, 0), ok: true},
		{in: "1893553445.25", want: time.Unix(1893553445, 250_000_000), ok: true},
		{in: "1.893553445e9", want: time.Unix(1893553445, 0), ok: true},
		{in: "253402300799", want: time.Unix(253402300799, 0), ok: true},
		{in: "253402300800"},
		{in: "2534023007990"},
		{in: "99999999999999999999999999"},
		{in: "1e400"},
		{in: "1.7976931348623157e308"},
		{in: "-1"},
		{in: "-0"},
		{in: `"1893553445"`},
		{in: "true"},
		{in: "null"},
		{in: "[1]"},
		{in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := numericDate([]byte(tt.in))
			if ok != tt.ok || (ok && !got.Equal(tt.want)) {
				t.Fatalf("numericDate(%s) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestIsATJWT(t *testing.T) {
	for typ, want := range map[string]bool{
		"at+jwt": true, "AT+JWT": true, "application/at+jwt": true, "APPLICATION/At+Jwt": true,
		"": false, "JWT": false, "jwt": false, "dpop+jwt": false, "application/jwt": false, "application/": false,
		"at+jwt ": false, " at+jwt": false, "application/application/at+jwt": false, "at+jwt; charset=utf-8": false,
	} {
		if got := isATJWT(typ); got != want {
			t.Errorf("isATJWT(%q) = %v, want %v", typ, got, want)
		}
	}
}

func TestValidKID(t *testing.T) {
	for kid, want := range map[string]bool{
		"es256-1": true, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs": true, "../../dev/null": true, "' OR 1=1 --": true,
		"": false, "a\x00b": false, "a\nb": false, "a\x7f": false, "\xff": false, strings.Repeat("k", maxKIDLen+1): false,
		strings.Repeat("k", maxKIDLen): true,
	} {
		if got := validKID(kid); got != want {
			t.Errorf("validKID(%.20q) = %v, want %v", kid, got, want)
		}
	}
}

func TestTokenCache(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	entry := func(exp time.Time) *tokenEntry { return &tokenEntry{p: &Principal{}, c: &Claims{}, exp: exp} }
	h := func(i int) keyHash { return hashToken(fmt.Sprint("token-", i)) }

	t.Run("entry lives until exp, excluded", func(t *testing.T) {
		c := newTokenCache(10)
		c.put(h(1), entry(now.Add(time.Minute)), c.generation(), now)
		if c.get(h(1), c.generation(), now.Add(time.Minute-time.Nanosecond)) == nil {
			t.Fatal("miss before exp")
		}
		if c.get(h(1), c.generation(), now.Add(time.Minute)) != nil {
			t.Fatal("hit at exp")
		}
	})
	t.Run("flush", func(t *testing.T) {
		c := newTokenCache(10)
		gen := c.generation()
		c.put(h(1), entry(now.Add(time.Minute)), gen, now)
		c.flush()
		if c.len() != 0 || c.get(h(1), c.generation(), now) != nil || c.get(h(1), gen, now) != nil {
			t.Fatal("entry survived a flush")
		}
	})
	t.Run("a check that started before a flush is not cached", func(t *testing.T) {
		c := newTokenCache(10)
		gen := c.generation()
		c.flush()
		c.put(h(1), entry(now.Add(time.Minute)), gen, now)
		if c.len() != 0 {
			t.Fatal("stale generation cached")
		}
	})
	t.Run("bounded, expired entries evicted first", func(t *testing.T) {
		c := newTokenCache(4)
		gen := c.generation()
		c.put(h(0), entry(now.Add(time.Second)), gen, now)
		for i := 1; i < 4; i++ {
			c.put(h(i), entry(now.Add(time.Hour)), gen, now)
		}
		later := now.Add(2 * time.Second)
		c.put(h(4), entry(now.Add(time.Hour)), gen, later)
		if c.len() != 4 || c.get(h(0), gen, now) != nil {
			t.Fatalf("len %d; the expired entry should have made room", c.len())
		}
		for i := 5; i < 100; i++ {
			c.put(h(i), entry(now.Add(time.Hour)), gen, later)
			if c.len() > 4 {
				t.Fatalf("cache grew to %d entries", c.len())
			}
		}
	})
}

func TestHashTokenDoesNotAllocate(t *testing.T) {
	tok := strings.Repeat("a", 1500)
	if n := testing.AllocsPerRun(100, func() { _ = hashToken(tok) }); n != 0 {
		t.Fatalf("hashToken allocates %v times", n)
	}
	if hashToken(tok) == hashToken(tok+"b") || hashToken(strings.Repeat("a", 3000)) == hashToken(strings.Repeat("a", 3001)) {
		t.Fatal("hash collision")
	}
}

// TestJWTCacheHit: a repeated token costs a hash and a map lookup.
func TestJWTCacheHit(t *testing.T) {
	env := newJWTEnv(t)
	tok := env.valid(t)
	env.warm(t)
	if _, err := env.auth.Authenticate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := env.auth.Authenticate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("a cache hit allocates %v times", n)
	}
}

// TestJWTCacheUntilExp: a cached token is not trusted past its exp: from
// exp it is checked again (the clock skew still applies), and refused
// once exp is more than the skew ago.
func TestJWTCacheUntilExp(t *testing.T) {
	env := newJWTEnv(t)
	exp := env.now().Add(10 * time.Second)
	tok := mint(t, env.keys.es256, validClaims(env.now()).with("exp", exp.Unix()))
	if _, err := env.auth.Authenticate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	h := hashToken(tok)
	c := env.auth.cache
	if c.get(h, c.generation(), env.now()) == nil {
		t.Fatal("valid token not cached")
	}
	env.clock.Advance(10 * time.Second)
	if c.get(h, c.generation(), env.now()) != nil {
		t.Fatal("cache entry outlived exp")
	}
	if _, err := env.auth.Authenticate(context.Background(), tok); err != nil {
		t.Fatalf("refused within the clock skew: %v", err)
	}
	env.clock.Advance(DefaultClockSkew)
	_, err := env.auth.Authenticate(context.Background(), tok)
	wantRefusal(t, err, audit.ReasonExpiredToken, tok)
}

func TestJWTCacheBoundedAndDisabled(t *testing.T) {
	env := newJWTEnv(t, WithTokenCache(4))
	for i := range 20 {
		tok := mint(t, env.keys.es256, validClaims(env.now()).with("jti", fmt.Sprint("j-", i)))
		if _, err := env.auth.Authenticate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		if n := env.auth.cache.len(); n > 4 {
			t.Fatalf("cache holds %d tokens, bound 4", n)
		}
	}
	off := newJWTEnv(t, WithTokenCache(0))
	off.warm(t)
	if off.auth.cache != nil {
		t.Fatal("WithTokenCache(0) kept a cache")
	}
}

// TestJWTCacheFlushedOnKeyChange: the cache is emptied when the key set
// changes, and only then.
func TestJWTCacheFlushedOnKeyChange(t *testing.T) {
	env := newJWTEnv(t)
	env.warm(t)
	if env.auth.cache.len() != 1 {
		t.Fatal("warm-up token not cached")
	}
	if err := env.auth.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if env.auth.cache.len() != 1 {
		t.Fatal("cache flushed by a refresh that changed nothing")
	}
	ks := env.keys
	env.jwks.set(jwksDoc(t, jwkOf(t, ks.es256), jwkOf(t, ks.eddsa)))
	if err := env.auth.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if env.auth.cache.len() != 0 {
		t.Fatal("cache kept after the key set changed")
	}
	env.warm(t)
	env.auth.InvalidateAll()
	if env.auth.cache.len() != 0 {
		t.Fatal("InvalidateAll kept the cache")
	}
}
