package apikey

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/cryptotest"
)

var updateFuzzCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite the named seeds under testdata/fuzz")

// fuzzSeed is one named seed of the committed corpus.
type fuzzSeed struct {
	name string
	args []any
}

// syncFuzzCorpus writes the named seeds of target with -update-fuzz-corpus
// and otherwise checks that they are committed as defined. (The root
// module's tests use internal/fuzzseed; pkg is a module of its own.)
func syncFuzzCorpus(t testing.TB, target string, seeds []fuzzSeed) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if *updateFuzzCorpus {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range seeds {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range s.args {
			switch v := a.(type) {
			case string:
				fmt.Fprintf(&b, "string(%q)\n", v)
			case byte:
				fmt.Fprintf(&b, "byte(%q)\n", v)
			default:
				fmt.Fprintf(&b, "%T(%v)\n", v, v)
			}
		}
		path := filepath.Join(dir, s.name)
		if *updateFuzzCorpus {
			if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, b.Bytes()) {
			t.Fatalf("seed corpus %s is stale (%v): run go test -run %s -update-fuzz-corpus", path, err, target)
		}
	}
}

// fixedKey is a well-formed key with a correct checksum, for the seeds.
var fixedKey = Key{ID: "0123456789ABCDEF", Secret: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"}.String()

// FuzzParse checks Parse against the format on arbitrary input: whatever
// parses looks like a key (Looks), renders back to exactly the input (so
// the parse is canonical: one key, one spelling), and has an id and a
// secret of base62 digits of the documented lengths; every refusal is
// ErrMalformed.
func FuzzParse(f *testing.F) {
	good := fixedKey
	flip := func(i int, c byte) string { b := []byte(good); b[i] = c; return string(b) }
	seeds := []fuzzSeed{
		{"seed-valid", []any{good}},
		{"seed-empty", []any{""}},
		{"seed-prefix-only", []any{Prefix}},
		{"seed-truncated", []any{good[:Len-1]}},
		{"seed-extended", []any{good + "0"}},
		{"seed-uppercase-prefix", []any{"GTH_" + good[len(Prefix):]}},
		{"seed-id-typo", []any{flip(len(Prefix)+3, 'z')}},
		{"seed-secret-typo", []any{flip(len(Prefix)+IDLen+7, '0')}},
		{"seed-checksum-typo", []any{flip(Len-1, '0')}},
		{"seed-separator-dash", []any{flip(len(Prefix)+IDLen, '-')}},
		{"seed-nul-in-secret", []any{flip(len(Prefix)+IDLen+1, 0)}},
		{"seed-utf8", []any{Prefix + strings.Repeat("é", (Len-len(Prefix))/2) + "x"}},
		{"seed-high-byte-checksum", []any{flip(Len-2, 0xff)}},
		{"seed-bearer-prefixed", []any{"Bearer " + good}},
	}
	syncFuzzCorpus(f, "FuzzParse", seeds)
	f.Fuzz(func(t *testing.T, raw string) {
		k, err := Parse(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || k != (Key{}) {
				t.Fatalf("Parse(%q) = %+v, %v; want the zero Key and ErrMalformed", raw, k, err)
			}
			return
		}
		if !Looks(raw) {
			t.Fatalf("Parse accepted %q but Looks refuses it", raw)
		}
		if got := k.String(); got != raw {
			t.Fatalf("Parse(%q) = %+v, which renders as %q", raw, k, got)
		}
		if len(k.ID) != IDLen || len(k.Secret) != SecretLen || !isBase62(k.ID) || !isBase62(k.Secret) {
			t.Fatalf("Parse(%q) = %+v: id or secret not of the format", raw, k)
		}
	})
}

// FuzzMutation checks what the checksum guarantees. A key from New (its
// randomness fixed by seed through testing/cryptotest, so that every input
// replays) parses back to itself; and no single-byte edit of it parses at
// all, whatever the byte: an insertion or a deletion changes the length,
// and a substitution anywhere in the first 63 bytes changes their CRC-32
// (a CRC-32 detects every error burst of up to 32 bits, so every
// single-byte change) while the 6-digit base62 rendering of a 32-bit value
// is one-to-one; a substitution in the checksum itself makes it differ
// from the one rendering of the body's CRC. So a mutated key is never
// taken for another key id, valid or not. (Several edits can collide: the
// checksum catches typos, it is no MAC; the secret is what authenticates.)
func FuzzMutation(f *testing.F) {
	const (
		opReplace = iota
		opInsert
		opDelete
		ops
	)
	seeds := []fuzzSeed{
		{"seed-replace-prefix", []any{uint64(1), uint16(0), byte('G'), uint8(opReplace)}},
		{"seed-replace-separator", []any{uint64(2), uint16(len(Prefix) + IDLen), byte('-'), uint8(opReplace)}},
		{"seed-replace-id", []any{uint64(3), uint16(len(Prefix) + 5), byte('0'), uint8(opReplace)}},
		{"seed-replace-secret", []any{uint64(4), uint16(len(Prefix) + IDLen + 20), byte('Z'), uint8(opReplace)}},
		{"seed-replace-checksum", []any{uint64(5), uint16(Len - 1), byte('a'), uint8(opReplace)}},
		{"seed-replace-high-byte", []any{uint64(6), uint16(30), byte(0xff), uint8(opReplace)}},
		{"seed-insert-start", []any{uint64(7), uint16(0), byte('g'), uint8(opInsert)}},
		{"seed-insert-end", []any{uint64(8), uint16(Len), byte('0'), uint8(opInsert)}},
		{"seed-delete-first", []any{uint64(9), uint16(0), byte(0), uint8(opDelete)}},
		{"seed-delete-last", []any{uint64(10), uint16(Len - 1), byte(0), uint8(opDelete)}},
		{"seed-delete-separator", []any{uint64(11), uint16(len(Prefix) + IDLen), byte(0), uint8(opDelete)}},
		{"seed-replace-nul", []any{uint64(12), uint16(10), byte(0), uint8(opReplace)}},
	}
	syncFuzzCorpus(f, "FuzzMutation", seeds)
	f.Fuzz(func(t *testing.T, seed uint64, pos uint16, b byte, op uint8) {
		cryptotest.SetGlobalRandom(t, seed)
		k, err := New()
		if err != nil {
			t.Fatal(err)
		}
		raw := k.String()
		if got, err := Parse(raw); err != nil || got != k {
			t.Fatalf("Parse(New().String()) = %+v, %v; want %+v", got, err, k)
		}
		if !Looks(raw) {
			t.Fatalf("Looks(%q) is false for a generated key", raw)
		}
		var mutated string
		switch op % ops {
		case opReplace:
			i := int(pos) % Len
			if raw[i] == b {
				return // not a mutation
			}
			mutated = raw[:i] + string([]byte{b}) + raw[i+1:]
		case opInsert:
			i := int(pos) % (Len + 1)
			mutated = raw[:i] + string([]byte{b}) + raw[i:]
		case opDelete:
			i := int(pos) % Len
			mutated = raw[:i] + raw[i+1:]
		}
		if got, err := Parse(mutated); err == nil {
			t.Fatalf("a one-byte edit of %q parses: %q = %+v (original id %s)", raw, mutated, got, k.ID)
		}
	})
}
