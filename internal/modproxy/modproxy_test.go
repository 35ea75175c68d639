package modproxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func TestWrite(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		"go.mod":           "module example.com/Upper/m\n\ngo 1.26.0\n",
		"m.go":             "package m\n",
		"sub/sub.go":       "package sub\n",
		"nested/go.mod":    "module example.com/Upper/m/nested\n",
		"nested/nested.go": "package nested\n",
	}
	for name, body := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	proxy := t.TempDir()
	for _, v := range []string{"v0.2.0", "v0.1.0", "v0.2.0"} {
		if err := Write(proxy, Module{Path: "example.com/Upper/m", Version: v, Dir: src}); err != nil {
			t.Fatal(err)
		}
	}
	// The proxy layout escapes capital letters.
	dir := filepath.Join(proxy, "example.com", "!upper", "m", "@v")
	list, err := os.ReadFile(filepath.Join(dir, "list"))
	if err != nil {
		t.Fatal(err)
	}
	if string(list) != "v0.1.0\nv0.2.0\n" {
		t.Errorf("list = %q", list)
	}
	if mod, _ := os.ReadFile(filepath.Join(dir, "v0.1.0.mod")); string(mod) != files["go.mod"] {
		t.Errorf(".mod = %q", mod)
	}
	if info, _ := os.ReadFile(filepath.Join(dir, "v0.1.0.info")); !strings.Contains(string(info), `"Version":"v0.1.0"`) {
		t.Errorf(".info = %s", info)
	}
	cf, err := modzip.CheckZip(module.Version{Path: "example.com/Upper/m", Version: "v0.1.0"}, filepath.Join(dir, "v0.1.0.zip"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cf.Err(); err != nil {
		t.Fatal(err)
	}
	// The nested module is a module of its own, not part of this one.
	const prefix = "example.com/Upper/m@v0.1.0/"
	if strings.Join(cf.Valid, " ") != prefix+"go.mod "+prefix+"m.go "+prefix+"sub/sub.go" {
		t.Errorf("zip holds %v", cf.Valid)
	}

	if err := Write(proxy, Module{Path: "example.com/other", Version: "v0.1.0", Dir: src}); err == nil {
		t.Error("a directory whose go.mod declares another module was accepted")
	}
	if err := Write(proxy, Module{Path: "example.com/Upper/m", Version: "v0.1", Dir: src}); err == nil {
		t.Error("a non-canonical version was accepted")
	}
}

func TestSDK(t *testing.T) {
	mods, err := SDK(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) != 2 || mods[0].Path != "github.com/gatehouse-dev/gatehouse/gen" || mods[1].Path != "github.com/gatehouse-dev/gatehouse/pkg" {
		t.Fatalf("SDK = %+v", mods)
	}
	for _, m := range mods {
		if module.Check(m.Path, m.Version) != nil || m.Version == "v0.0.0" {
			t.Errorf("%s at %q: not a version an outside module can require", m.Path, m.Version)
		}
	}

	repo := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":     "module github.com/gatehouse-dev/gatehouse\nrequire (\n\tgithub.com/gatehouse-dev/gatehouse/gen v0.2.0\n\tgithub.com/gatehouse-dev/gatehouse/pkg v0.2.0\n)\n",
		"pkg/go.mod": "module github.com/gatehouse-dev/gatehouse/pkg\nrequire github.com/gatehouse-dev/gatehouse/gen v0.1.0\n",
	} {
		p := filepath.Join(repo, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := SDK(repo); err == nil || !strings.Contains(err.Error(), "v0.1.0") {
		t.Errorf("gen required at two versions: %v", err)
	}
}
