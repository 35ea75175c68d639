// Package cli is the admin command line of Gatehouse: the scopes, clients,
// apikeys, users, certs and revoke command groups of the gatehouse binary.
// Every command is one or a few calls to the ClientRegistryService, the
// UserService, the KeyManagementService or the RevocationService over
// gRPC, authenticated with an admin API key.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
)

// EnvAPIKey names the environment variable holding the API key the CLI
// presents. When it is unset, the key comes from the credentials file.
const EnvAPIKey = "GATEHOUSE_API_KEY" //nolint:gosec // a variable name, not a credential

// DefaultCredentialsFile is where `gatehouse serve` writes the bootstrap
// admin credentials with its default --data-dir.
const DefaultCredentialsFile = "./data/admin-credentials.json" //nolint:gosec // a path, not a credential

// Exit codes of Run.
const (
	exitOK    = 0
	exitError = 1 // usage errors and failed calls
	exitFlags = 2 // flags that do not parse
)

// action runs a command once its flags are parsed; args are its positional
// arguments, already checked against command.args.
type action func(ctx context.Context, s *session, args []string) error

// command is one subcommand of a group, e.g. `clients create`.
type command struct {
	name string
	// args names the positional arguments, e.g. {"ID"}.
	args []string
	// synopsis shows the command's main flags in usage lines.
	synopsis string
	summary  string
	// setup defines the command's own flags on fs and returns the action,
	// which reads them.
	setup func(fs *flag.FlagSet) action
}

// group is a command group, e.g. `clients`.
type group struct {
	name     string
	summary  string
	commands []*command
}

func (g *group) find(name string) *command {
	for _, c := range g.commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// groups lists the command groups in the order usage shows them.
func groups() []*group {
	return []*group{scopesGroup(), clientsGroup(), apikeysGroup(), usersGroup(), revokeGroup(), certsGroup(), keysGroup(), revocationsGroup(), auditGroup()}
}

func findGroup(name string) *group {
	for _, g := range groups() {
		if g.name == name {
			return g
		}
	}
	return nil
}

func isHelp(arg string) bool {
	return slices.Contains([]string{"help", "-h", "-help", "--help"}, arg)
}

// Run runs one admin command. args are the arguments after the program
// name, starting with the command group (scopes, clients, apikeys, users,
// revoke, or help) or version. Output goes to stdout; an error is one line on stderr,
// prefixed with "gatehouse: ". getenv reads the environment (os.Getenv in
// the binary). stdin is read only by commands given --password-stdin.
//
// Run returns the exit code: 0 on success, 2 for flags that do not parse,
// 1 for every other error (usage or server).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		return fail(stderr, exitError, "missing command (run 'gatehouse help')")
	}
	if isHelp(args[0]) {
		return help(args[1:], stdout, stderr)
	}
	if args[0] == "version" || args[0] == "--version" {
		bi, ok := debug.ReadBuildInfo()
		return version(args[1:], stdout, stderr, bi, ok)
	}
	g := findGroup(args[0])
	if g == nil {
		return fail(stderr, exitError, "unknown command %q (run 'gatehouse help')", args[0])
	}
	if len(args) == 1 {
		return fail(stderr, exitError, "%s: missing command, one of %s (run 'gatehouse %s -h')", g.name, commandNames(g), g.name)
	}
	if isHelp(args[1]) {
		return help(append([]string{g.name}, args[2:]...), stdout, stderr)
	}
	c := g.find(args[1])
	if c == nil {
		return fail(stderr, exitError, "%s: unknown command %q, want one of %s (run 'gatehouse %s -h')", g.name, args[1], commandNames(g), g.name)
	}
	return runCommand(ctx, g, c, args[2:], stdin, stdout, stderr, getenv)
}

func runCommand(ctx context.Context, g *group, c *command, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	name := g.name + " " + c.name
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var opts commonOptions
	opts.register(fs)
	act := c.setup(fs)

	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(stdout, g, c, fs)
		return exitOK
	}
	if err != nil {
		return fail(stderr, exitFlags, "%s: %v (run 'gatehouse %s -h')", name, err, name)
	}
	switch {
	case len(pos) < len(c.args):
		return fail(stderr, exitError, "%s: missing %s (usage: %s)", name, strings.Join(c.args[len(pos):], " "), usageLine(g, c))
	case len(pos) > len(c.args):
		return fail(stderr, exitError, "%s: unexpected argument %q (usage: %s)", name, pos[len(c.args)], usageLine(g, c))
	}
	for i, p := range pos {
		if strings.TrimSpace(p) == "" {
			return fail(stderr, exitError, "%s: %s must not be empty", name, c.args[i])
		}
	}

	s := &session{opts: opts, stdin: stdin, stdout: stdout, getenv: getenv}
	defer s.close()
	if err := act(ctx, s, pos); err != nil {
		return fail(stderr, exitError, "%s", s.describe(err))
	}
	return exitOK
}

// parseInterleaved parses flags that come before, between or after the
// positional arguments; the flag package alone stops at the first
// positional. A "--" ends the flags: everything after it is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// fail prints one line to stderr and returns code.
func fail(stderr io.Writer, code int, format string, args ...any) int {
	fmt.Fprintf(stderr, "gatehouse: %s\n", oneLine(fmt.Sprintf(format, args...)))
	return code
}

// oneLine folds line breaks so an error is always a single line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), " ")
}

func commandNames(g *group) string {
	names := make([]string, len(g.commands))
	for i, c := range g.commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// --- usage ---

const commonFlagsUsage = `Common flags (every command):
  --server host:port   gRPC address of the server (default: grpc_addr from the credentials file)
  --credentials FILE   admin credentials written by 'gatehouse serve' (default ` + DefaultCredentialsFile + `)
  -o text|json         output format (default text)
  --timeout 10s        deadline of each call to the server
  --tls, --ca-file F   TLS to the server (required beyond loopback); --client-cert F --client-key F
The API key is read from $` + EnvAPIKey + `, else from the credentials file.
`

func help(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		topUsage(stdout)
		return exitOK
	case 1, 2:
		g := findGroup(args[0])
		if g == nil {
			return fail(stderr, exitError, "help: unknown command %q (run 'gatehouse help')", args[0])
		}
		if len(args) == 1 {
			groupUsage(stdout, g)
			return exitOK
		}
		c := g.find(args[1])
		if c == nil {
			return fail(stderr, exitError, "help: unknown command %q, want one of %s", g.name+" "+args[1], commandNames(g))
		}
		fs := flag.NewFlagSet("gatehouse "+g.name+" "+c.name, flag.ContinueOnError)
		var opts commonOptions
		opts.register(fs)
		c.setup(fs)
		commandUsage(stdout, g, c, fs)
		return exitOK
	default:
		return fail(stderr, exitError, "help: too many arguments")
	}
}

func topUsage(w io.Writer) {
	fmt.Fprint(w, "usage: gatehouse <group> <command> [arguments] [flags]\n\nAdmin commands:\n")
	for _, g := range groups() {
		fmt.Fprintf(w, "\n  %s: %s\n", g.name, g.summary)
		for _, c := range g.commands {
			fmt.Fprintf(w, "    %s\n", usageLine(g, c))
		}
	}
	fmt.Fprint(w, "\n  version: show the module version, commit and Go version\n    gatehouse version [-o json]\n")
	fmt.Fprint(w, "\n"+commonFlagsUsage+"\nRun 'gatehouse <group> <command> -h' for a command's flags.\n")
}

func groupUsage(w io.Writer, g *group) {
	fmt.Fprintf(w, "usage: gatehouse %s <command> [arguments] [flags]\n\n%s.\n\nCommands:\n", g.name, upperFirst(g.summary))
	width := 0
	for _, c := range g.commands {
		width = max(width, len(c.name))
	}
	for _, c := range g.commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprint(w, "\n"+commonFlagsUsage+"\nRun 'gatehouse "+g.name+" <command> -h' for a command's flags.\n")
}

func commandUsage(w io.Writer, g *group, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s.\n\nFlags:\n", usageLine(g, c), upperFirst(c.summary))
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprintf(w, "\nFlags may come before or after the arguments. The API key is read from $%s, else from the credentials file.\n", EnvAPIKey)
}

func usageLine(g *group, c *command) string {
	parts := []string{"gatehouse", g.name, c.name}
	parts = append(parts, c.args...)
	if c.synopsis != "" {
		parts = append(parts, c.synopsis)
	}
	return strings.Join(parts, " ")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
