package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildVersion is what `gatehouse version` reports, read from the build
// information the Go toolchain embeds, so a release needs no -ldflags.
type buildVersion struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Revision  string `json:"vcs_revision"`
	Time      string `json:"vcs_time"`
	Modified  bool   `json:"vcs_modified"`
	GoVersion string `json:"go_version"`
}

// readVersion turns build information into a buildVersion; ok is false
// for a binary built without module support, which still reports its Go
// version.
func readVersion(bi *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Version: "unknown", GoVersion: runtime.Version()}
	if !ok || bi == nil {
		return v
	}
	v.Module = bi.Main.Path
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func (v buildVersion) write(w io.Writer) {
	k := &kv{}
	k.add("module", orDash(v.Module))
	k.add("version", v.Version)
	k.add("vcs_revision", orDash(v.Revision))
	k.add("vcs_time", orDash(v.Time))
	k.add("vcs_modified", yesNo(v.Modified))
	k.add("go_version", v.GoVersion)
	k.write(w)
}

// version is `gatehouse version [-o text|json]` and `gatehouse --version`.
// It takes -o only: it reads nothing but the binary, so the server flags
// of the other commands would mislead.
func version(args []string, stdout, stderr io.Writer, bi *debug.BuildInfo, ok bool) int {
	fs := flag.NewFlagSet("gatehouse version", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	output := outputFormat("text")
	fs.Var(&output, "o", "output `format`: text or json")
	fs.Var(&output, "output", "same as -o `format`")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, "usage: gatehouse version [-o text|json]\n\nShow the module version, the commit it was built from and the Go version.\n\nFlags:\n")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK
	case err != nil:
		return fail(stderr, exitFlags, "version: %v (run 'gatehouse version -h')", err)
	case fs.NArg() > 0:
		return fail(stderr, exitError, "version: unexpected argument %q", fs.Arg(0))
	}
	v := readVersion(bi, ok)
	if output == "json" {
		s := &session{stdout: stdout}
		if err := s.printJSONValue(v); err != nil {
			return fail(stderr, exitError, "%v", err)
		}
		return exitOK
	}
	v.write(stdout)
	return exitOK
}
