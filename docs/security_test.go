// Package docs checks the documents of the repository against the code:
// security.md traces every item of the security checklist to the tests
// that prove it, and this test keeps that trace complete and true.
package docs

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// checklistItems is the number of items of the security checklist. The
// checklist itself lives outside the repository; its item numbers and
// sections are copied here so that the test needs nothing but the
// repository.
const checklistItems = 101

// sections are the checklist's lettered sections and the items each holds.
var sections = []struct {
	letter      string
	first, last int
}{
	{"A", 1, 17},    // access-token validation at the RS
	{"B", 18, 21},   // JWKS publication and key rotation
	{"C", 22, 28},   // bearer usage and error format at the RS
	{"D", 29, 34},   // mutual TLS
	{"E", 35, 44},   // authorization endpoint
	{"F", 45, 51},   // token endpoint: authorization_code
	{"G", 52, 62},   // token endpoint: client authentication and hygiene
	{"H", 63, 67},   // refresh tokens
	{"I", 68, 71},   // revocation
	{"J", 72, 74},   // introspection
	{"K", 75, 76},   // metadata
	{"L", 77, 80},   // transport, headers, limits
	{"M", 81, 88},   // OpenID Connect
	{"N", 89, 93},   // abuse resistance without lockout
	{"O", 94, 97},   // DPoP and pushed authorization requests
	{"P", 98, 99},   // gateway integrations
	{"Q", 100, 101}, // administration
}

const (
	docFile  = "security.md"
	repoRoot = ".."
)

// sectionOf returns the letter of the section that holds item n.
func sectionOf(n int) string {
	for _, s := range sections {
		if n >= s.first && n <= s.last {
			return s.letter
		}
	}
	return ""
}

// row is one item line of security.md.
type row struct {
	line    int    // 1-based line number in security.md
	section string // letter of the heading above the row
	num     int
	title   string
	tests   []string // test references, as written
	status  string   // "", "open" or "n/a"
	note    string   // the status text after "open:" or "n/a:"
}

var (
	headingRE = regexp.MustCompile(`^## ([A-Z])\. \S`)
	itemRE    = regexp.MustCompile(`^\|\s*([0-9]+)\s*\|`)
	refRE     = regexp.MustCompile("`([^`]*)`")
	// testRefRE is dir.TestName or dir.TestName/subtest[/subtest...]: dir
	// is the repository-relative directory of the test file.
	testRefRE = regexp.MustCompile(`^([A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-]+)*)\.((?:Test|Fuzz)[A-Za-z0-9_]*)(?:/(.+))?$`)
)

// parseDoc reads the item rows of security.md: lines of the form
//
//	| N | title | `dir.TestName` `dir.TestName/subtest` ... | open: ... |
//
// under "## X. Section title" headings.
func parseDoc(t *testing.T) []row {
	t.Helper()
	f, err := os.Open(docFile)
	if err != nil {
		t.Fatalf("open %s: %v", docFile, err)
	}
	defer f.Close()
	var (
		rows    []row
		section string
		n       int
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		n++
		text := sc.Text()
		if m := headingRE.FindStringSubmatch(text); m != nil {
			section = m[1]
			continue
		}
		m := itemRE.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		num, _ := strconv.Atoi(m[1])
		r := row{line: n, section: section, num: num}
		cells := strings.Split(strings.TrimSpace(text), "|")
		// "| a | b | c | d |" splits into "", a, b, c, d, "".
		if len(cells) != 6 || cells[0] != "" || cells[5] != "" {
			t.Errorf("%s:%d: item %d: want 4 cells (number, title, tests, open/n/a), got %d: %q", docFile, n, num, len(cells)-2, text)
			rows = append(rows, r)
			continue
		}
		r.title = strings.TrimSpace(cells[2])
		testsCell := strings.TrimSpace(cells[3])
		for _, rm := range refRE.FindAllStringSubmatch(testsCell, -1) {
			r.tests = append(r.tests, rm[1])
		}
		if rest := strings.TrimSpace(refRE.ReplaceAllString(testsCell, "")); rest != "" {
			t.Errorf("%s:%d: item %d: the tests cell holds text outside backquoted test names: %q", docFile, n, num, rest)
		}
		switch status := strings.TrimSpace(cells[4]); {
		case status == "":
		case strings.HasPrefix(status, "open:"):
			r.status, r.note = "open", strings.TrimSpace(strings.TrimPrefix(status, "open:"))
		case strings.HasPrefix(status, "n/a:"):
			r.status, r.note = "n/a", strings.TrimSpace(strings.TrimPrefix(status, "n/a:"))
		default:
			t.Errorf("%s:%d: item %d: the last cell must be empty or start with \"open:\" or \"n/a:\", got %q", docFile, n, num, status)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", docFile, err)
	}
	return rows
}

// TestSecurityChecklistTrace checks docs/security.md: every checklist
// item once, in its section and in order, each with tests, an open: note
// or an n/a: reason; and every test it names exists.
func TestSecurityChecklistTrace(t *testing.T) {
	rows := parseDoc(t)
	if len(rows) == 0 {
		t.Fatalf("%s has no item rows", docFile)
	}

	t.Run("every item exactly once", func(t *testing.T) {
		seen := map[int][]int{} // item -> lines
		for _, r := range rows {
			seen[r.num] = append(seen[r.num], r.line)
		}
		var missing, twice, unknown []string
		for n := 1; n <= checklistItems; n++ {
			switch len(seen[n]) {
			case 0:
				missing = append(missing, strconv.Itoa(n))
			case 1:
			default:
				twice = append(twice, fmt.Sprintf("%d (lines %v)", n, seen[n]))
			}
		}
		for n, lines := range seen {
			if n < 1 || n > checklistItems {
				unknown = append(unknown, fmt.Sprintf("%d (lines %v)", n, lines))
			}
		}
		slices.Sort(unknown)
		if len(missing) > 0 {
			t.Errorf("items missing from %s: %s", docFile, strings.Join(missing, ", "))
		}
		if len(twice) > 0 {
			t.Errorf("items listed more than once: %s", strings.Join(twice, ", "))
		}
		if len(unknown) > 0 {
			t.Errorf("item numbers the checklist does not have (1 to %d): %s", checklistItems, strings.Join(unknown, ", "))
		}
	})

	t.Run("items in their sections and in order", func(t *testing.T) {
		prev := 0
		for _, r := range rows {
			if want := sectionOf(r.num); want != "" && r.section != want {
				t.Errorf("%s:%d: item %d is under section %q, want %q", docFile, r.line, r.num, r.section, want)
			}
			if r.num <= prev {
				t.Errorf("%s:%d: item %d comes after item %d", docFile, r.line, r.num, prev)
			}
			prev = r.num
		}
	})

	t.Run("every item has a title and evidence", func(t *testing.T) {
		for _, r := range rows {
			if r.title == "" {
				t.Errorf("%s:%d: item %d has no title", docFile, r.line, r.num)
			}
			if len(r.tests) == 0 && r.status == "" {
				t.Errorf("%s:%d: item %d names no test and is neither open: nor n/a:", docFile, r.line, r.num)
			}
			if r.status != "" && r.note == "" {
				t.Errorf("%s:%d: item %d is %s: without saying why", docFile, r.line, r.num, r.status)
			}
		}
	})

	t.Run("named tests exist", func(t *testing.T) {
		pkgs := map[string]*testPackage{}
		for _, r := range rows {
			for _, ref := range r.tests {
				t.Run(fmt.Sprintf("item %d %s", r.num, ref), func(t *testing.T) {
					checkTestRef(t, pkgs, r, ref)
				})
			}
		}
	})

	var proven, partly, open, na []int
	for _, r := range rows {
		switch {
		case r.status == "n/a":
			na = append(na, r.num)
		case r.status == "open" && len(r.tests) > 0:
			partly = append(partly, r.num)
		case r.status == "open":
			open = append(open, r.num)
		default:
			proven = append(proven, r.num)
		}
	}
	t.Logf("%d checklist items: %d proven, %d open (%d of them partly tested: %v; %d untested: %v), %d n/a %v",
		len(rows), len(proven), len(partly)+len(open), len(partly), partly, len(open), open, len(na), na)
}

// checkTestRef checks that ref names a test function (and, when it names
// subtests, names that the package's test files spell as literals).
func checkTestRef(t *testing.T, pkgs map[string]*testPackage, r row, ref string) {
	t.Helper()
	m := testRefRE.FindStringSubmatch(ref)
	if m == nil {
		t.Fatalf("%s:%d: item %d: %q is not dir.TestName or dir.TestName/subtest", docFile, r.line, r.num, ref)
	}
	dir, name, sub := m[1], m[2], m[3]
	if path.Clean(dir) != dir || strings.HasPrefix(dir, "../") || dir == ".." {
		t.Fatalf("%s:%d: item %d: %q: the directory must be a clean repository-relative path", docFile, r.line, r.num, ref)
	}
	p, ok := pkgs[dir]
	if !ok {
		p = loadTestPackage(filepath.Join(repoRoot, filepath.FromSlash(dir)))
		pkgs[dir] = p
	}
	if p.err != nil {
		t.Fatalf("%s:%d: item %d: %s: %v", docFile, r.line, r.num, ref, p.err)
	}
	if !p.funcs[name] {
		msg := fmt.Sprintf("%s:%d: item %d: %s: no func %s(%s) in %s", docFile, r.line, r.num, ref, name, paramFor(name), dir)
		if len(p.parseErrs) > 0 {
			msg += fmt.Sprintf(" (files that did not parse: %s)", strings.Join(p.parseErrs, "; "))
		}
		t.Fatal(msg)
	}
	if sub == "" {
		return
	}
	for _, part := range strings.Split(sub, "/") {
		if part == "" {
			t.Fatalf("%s:%d: item %d: %s: empty subtest name", docFile, r.line, r.num, ref)
		}
		// A repeated name gets a #NN suffix from the testing package.
		if i := strings.LastIndexByte(part, '#'); i > 0 && isDigits(part[i+1:]) {
			part = part[:i]
		}
		if !p.literals[part] {
			t.Errorf("%s:%d: item %d: %s: no string literal in the test files of %s is the subtest name %q (spaces written as _)",
				docFile, r.line, r.num, ref, dir, part)
		}
	}
}

func paramFor(name string) string {
	if strings.HasPrefix(name, "Fuzz") {
		return "f *testing.F"
	}
	return "t *testing.T"
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// testPackage is what the test files of one directory declare.
type testPackage struct {
	err       error
	parseErrs []string
	// funcs are the names of func TestX(t *testing.T) and
	// func FuzzX(f *testing.F).
	funcs map[string]bool
	// literals are the string literals of the _test.go files, rewritten
	// as the testing package rewrites subtest names, and each of their
	// "/"-separated parts.
	literals map[string]bool
}

func loadTestPackage(dir string) *testPackage {
	p := &testPackage{funcs: map[string]bool{}, literals: map[string]bool{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		p.err = err
		return p
	}
	fset := token.NewFileSet()
	found := false
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		found = true
		file := filepath.Join(dir, e.Name())
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			p.parseErrs = append(p.parseErrs, err.Error())
		}
		if f == nil {
			continue
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && isTestFunc(fd) {
				p.funcs[fd.Name.Name] = true
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			name := rewriteSubtestName(s)
			p.literals[name] = true
			for _, part := range strings.Split(name, "/") {
				p.literals[part] = true
			}
			return true
		})
	}
	if !found {
		p.err = fmt.Errorf("no _test.go files in %s", dir)
	}
	return p
}

// isTestFunc reports whether fd is func TestX(t *testing.T) or
// func FuzzX(f *testing.F).
func isTestFunc(fd *ast.FuncDecl) bool {
	want := ""
	switch name := fd.Name.Name; {
	case strings.HasPrefix(name, "Test") && name != "TestMain":
		want = "T"
	case strings.HasPrefix(name, "Fuzz"):
		want = "F"
	default:
		return false
	}
	params := fd.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 || fd.Type.Results != nil {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "testing" && sel.Sel.Name == want
}

// rewriteSubtestName is the testing package's rewrite of a subtest name:
// spaces become underscores, unprintable runes are escaped.
func rewriteSubtestName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			b.WriteByte('_')
		case !strconv.IsPrint(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestRewriteSubtestName pins the rewrite to what go test prints.
func TestRewriteSubtestName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"1 alg none", "1_alg_none"},
		{"bound, certificate A", "bound,_certificate_A"},
		{"12 exp now-(skew+1s)", "12_exp_now-(skew+1s)"},
		{"tab\there", "tab_here"},
		{"nul\x00", `nul\x00`},
	} {
		if got := rewriteSubtestName(tc.in); got != tc.want {
			t.Errorf("rewriteSubtestName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
