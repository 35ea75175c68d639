// Command modproxy writes this repository's gen and pkg modules, at the
// versions the go.mod files name, into a file-based Go module proxy:
//
//	go run ./scripts/modproxy DIR
//
// Then GOPROXY=file://DIR,file://$(go env GOMODCACHE)/cache/download with
// GOWORK=off and a throwaway GOMODCACHE resolves them for a module outside
// the workspace, such as examples/orders (`make tidy`). The
// module cache must be a throwaway one: its copy of a version is never
// refreshed, and these versions change with every commit until tagged.
package main

import (
	"fmt"
	"os"

	"github.com/gatehouse-dev/gatehouse/internal/modproxy"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/modproxy DIR (from the repository root)")
		os.Exit(2)
	}
	mods, err := modproxy.SDK(".")
	if err == nil {
		err = modproxy.Write(os.Args[1], mods...)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, m := range mods {
		fmt.Printf("%s@%s\n", m.Path, m.Version)
	}
}
