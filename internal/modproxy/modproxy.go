// Package modproxy writes a Go module proxy as files (GOPROXY=file://...)
// holding modules taken from directories, so that a module outside the
// workspace can require this repository's gen and pkg at the versions
// their go.mod files name before those versions are tagged, and without
// the network.
package modproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	modzip "golang.org/x/mod/zip"
)

// Module is a module version whose content is a directory.
type Module struct {
	Path    string
	Version string
	// Dir holds the module's go.mod.
	Dir string
}

// Write adds each module to the proxy rooted at root, in the layout the go
// command reads: <escaped path>/@v/list and <version>.info, .mod and .zip.
// A version already in the proxy is overwritten.
func Write(root string, mods ...Module) error {
	for _, m := range mods {
		if err := write(root, m); err != nil {
			return fmt.Errorf("modproxy: %s@%s: %w", m.Path, m.Version, err)
		}
	}
	return nil
}

func write(root string, m Module) error {
	mv := module.Version{Path: m.Path, Version: m.Version}
	if err := module.Check(m.Path, m.Version); err != nil {
		return err
	}
	if semver.Canonical(m.Version) != m.Version {
		return errors.New("not a canonical semantic version")
	}
	escPath, err := module.EscapePath(m.Path)
	if err != nil {
		return err
	}
	escVersion, err := module.EscapeVersion(m.Version)
	if err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(m.Dir, "go.mod"))
	if err != nil {
		return err
	}
	if got := modfile.ModulePath(gomod); got != m.Path {
		return fmt.Errorf("%s/go.mod declares module %q", m.Dir, got)
	}
	dir := filepath.Join(root, filepath.FromSlash(escPath), "@v")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	var zip bytes.Buffer
	if err := modzip.CreateFromDir(&zip, mv, m.Dir); err != nil {
		return err
	}
	// The time is the go command's only use of .info besides the version;
	// a fixed one keeps the proxy's files the same from run to run.
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{m.Version, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		escVersion + ".info": info,
		escVersion + ".mod":  gomod,
		escVersion + ".zip":  zip.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return addToList(filepath.Join(dir, "list"), m.Version)
}

func addToList(name, version string) error {
	b, err := os.ReadFile(name) //nolint:gosec // G304: the proxy's own list file
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	versions := strings.Fields(string(b))
	if !slices.Contains(versions, version) {
		versions = append(versions, version)
	}
	semver.Sort(versions)
	return os.WriteFile(name, []byte(strings.Join(versions, "\n")+"\n"), 0o600) //nolint:gosec // G703: the proxy directory the caller chose
}

// SDK returns this repository's gen and pkg modules, rooted at repo, at
// the versions the repository requires them: pkg at the version the root
// go.mod requires, gen at the version pkg/go.mod requires, which must be
// the root's too (one release carries both).
func SDK(repo string) ([]Module, error) {
	root, err := requires(filepath.Join(repo, "go.mod"))
	if err != nil {
		return nil, err
	}
	pkgReqs, err := requires(filepath.Join(repo, "pkg", "go.mod"))
	if err != nil {
		return nil, err
	}
	const genPath, pkgPath = "github.com/gatehouse-dev/gatehouse/gen", "github.com/gatehouse-dev/gatehouse/pkg"
	gen, pkg := pkgReqs[genPath], root[pkgPath]
	switch {
	case gen == "" || pkg == "":
		return nil, errors.New("modproxy: go.mod does not require pkg, or pkg/go.mod does not require gen")
	case root[genPath] != gen:
		return nil, fmt.Errorf("modproxy: go.mod requires gen %s but pkg/go.mod requires gen %s", root[genPath], gen)
	}
	return []Module{
		{Path: genPath, Version: gen, Dir: filepath.Join(repo, "gen")},
		{Path: pkgPath, Version: pkg, Dir: filepath.Join(repo, "pkg")},
	}, nil
}

// requires returns the versions a go.mod file requires, by module path.
func requires(name string) (map[string]string, error) {
	b, err := os.ReadFile(name) //nolint:gosec // G304: a go.mod of the repository the caller names
	if err != nil {
		return nil, err
	}
	f, err := modfile.ParseLax(name, b, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range f.Require {
		out[r.Mod.Path] = r.Mod.Version
	}
	return out, nil
}
