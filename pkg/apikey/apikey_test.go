package apikey

import (
	"errors"
	"strings"
	"testing"
)

func TestNewRoundTrip(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		k, err := New()
		if err != nil {
			t.Fatal(err)
		}
		raw := k.String()
		if len(raw) != Len {
			t.Fatalf("len(%q) = %d, want %d", raw, len(raw), Len)
		}
		got, err := Parse(raw)
		if err != nil {
			t.Fatalf("Parse(New()) = %v", err)
		}
		if got != k {
			t.Fatalf("Parse = %+v, want %+v", got, k)
		}
		if seen[k.ID] || seen[k.Secret] {
			t.Fatal("repeated key_id or secret")
		}
		seen[k.ID], seen[k.Secret] = true, true
	}
}

func TestParseRefuses(t *testing.T) {
	k, err := New()
	if err != nil {
		t.Fatal(err)
	}
	good := k.String()
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	tests := []struct {
		name string
		raw  string
	}{
		{"empty", ""},
		{"prefix only", Prefix},
		{"truncated", good[:len(good)-1]},
		{"extended", good + "x"},
		{"wrong prefix", "ghx_" + good[4:]},
		{"secret typo", flip(len(Prefix) + IDLen + 5)},
		{"id typo", flip(len(Prefix) + 2)},
		{"checksum typo", flip(Len - 1)},
		{"separator", good[:len(Prefix)+IDLen] + "-" + good[len(Prefix)+IDLen+1:]},
		{"non base62", good[:10] + "!" + good[11:]},
		{"unicode", strings.Repeat("é", Len/2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.raw); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%s) = %v, want ErrMalformed", tc.name, err)
			}
		})
	}
}

func TestSecretEntropy(t *testing.T) {
	// 43 base62 digits must be able to hold 256 bits, and the generator
	// must use every digit position (the first digit varies).
	firsts := map[byte]bool{}
	for range 200 {
		k, err := New()
		if err != nil {
			t.Fatal(err)
		}
		firsts[k.Secret[0]] = true
	}
	if len(firsts) < 2 {
		t.Fatal("first secret digit never varies: secret shorter than claimed")
	}
}
