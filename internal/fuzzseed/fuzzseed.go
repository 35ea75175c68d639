// Package fuzzseed keeps the committed seed corpora of the fuzz targets
// (testdata/fuzz/<FuzzName>/seed-*) in step with the seeds their tests
// define: run the tests with -update-fuzz-corpus to rewrite the named seed
// files; without it, a named seed missing from the corpus or differing
// from its definition fails the test. Files the fuzzer adds (crashers,
// named by hash) are left alone.
//
// Only tests import it. pkg/ is a module of its own and keeps a copy of
// Marshal in pkg/apikey's fuzz test.
package fuzzseed

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update-fuzz-corpus", false, "rewrite the named seed files under testdata/fuzz")

// Updating reports whether the test run rewrites the seed corpora.
func Updating() bool { return *update }

// Seed is one named seed input: the arguments of the fuzz function, in
// order.
type Seed struct {
	Name string
	Args []any
}

// Dir is the corpus directory of a fuzz target.
func Dir(target string) string { return filepath.Join("testdata", "fuzz", target) }

// Marshal renders args in the "go test fuzz v1" corpus format, as the go
// command writes it (internal/fuzz's marshalCorpusFile).
func Marshal(args ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case int, int64, uint, uint16, uint32, uint64, bool:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		default:
			panic(fmt.Sprintf("fuzzseed: unsupported type %T", a))
		}
	}
	return b.Bytes()
}

// Sync writes seeds under Dir(target) with -update-fuzz-corpus, and
// otherwise checks that each is committed with exactly its definition.
func Sync(t testing.TB, target string, seeds []Seed) {
	t.Helper()
	dir := Dir(target)
	if *update {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, s := range seeds {
		if seen[s.Name] || !strings.HasPrefix(s.Name, "seed-") {
			t.Fatalf("fuzzseed: seed name %q is repeated or does not start with seed-", s.Name)
		}
		seen[s.Name] = true
		path := filepath.Join(dir, s.Name)
		want := Marshal(s.Args...)
		if *update {
			if err := os.WriteFile(path, want, 0o600); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)              //nolint:gosec // a seed file of the test's own testdata/fuzz
		if err != nil || !bytes.Equal(got, want) { // not-secret: seed corpus files
			t.Fatalf("seed corpus %s is stale (%v): run go test -run %s -update-fuzz-corpus", path, err, target)
		}
	}
}

// Load returns the values of a committed seed file: strings and byte
// slices only, the types the targets that read their corpus use.
func Load(t testing.TB, target, name string) []any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(target), name)) //nolint:gosec // a seed file of the test's own testdata/fuzz
	if err != nil {
		t.Fatalf("fuzzseed: %v (run go test -run %s -update-fuzz-corpus)", err, target)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 || lines[0] != "go test fuzz v1" {
		t.Fatalf("fuzzseed: %s/%s is not a corpus file", target, name)
	}
	var out []any
	for _, line := range lines[1:] {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		typ, rest, ok := strings.Cut(line, "(")
		if !ok || !strings.HasSuffix(rest, ")") {
			t.Fatalf("fuzzseed: %s/%s: malformed line %q", target, name, line)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(rest, ")"))
		if err != nil {
			t.Fatalf("fuzzseed: %s/%s: %v", target, name, err)
		}
		switch typ {
		case "string":
			out = append(out, s)
		case "[]byte":
			out = append(out, []byte(s))
		default:
			t.Fatalf("fuzzseed: %s/%s: unsupported type %s", target, name, typ)
		}
	}
	return out
}
