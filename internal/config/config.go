// Package config loads the serve configuration from flags, GATEHOUSE_*
// environment variables and an optional YAML file, in that order of
// precedence, over safe defaults.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the configuration of `gatehouse serve`.
type Config struct {
	DataDir         string
	HTTPAddr        string
	GRPCAddr        string
	DatabaseURL     string
	NATSURL         string
	LogLevel        slog.Level
	ShutdownTimeout time.Duration
	APIKeyCacheTTL  time.Duration
	// Service is the one service to run, or "" for all of them.
	Service string
}

// Services that `serve <service>` accepts.
var Services = []string{"clients", "token", "keys", "revocation", "gateway"}

// option is one setting: its YAML key is Name, its flag --Name, its
// environment variable GATEHOUSE_<NAME with - as _>.
type option struct {
	Name    string
	Default string
	Help    string
	set     func(c *Config, v string) error
}

var options = []option{
	{"data-dir", "./data", "directory for the SQLite database, embedded NATS and admin-credentials.json", func(c *Config, v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		c.DataDir = v
		return nil
	}},
	{"http-addr", "127.0.0.1:8080", "HTTP listen address (REST facade, health, metrics); port 0 picks a free port", func(c *Config, v string) error {
		c.HTTPAddr = v
		return checkAddr(v)
	}},
	{"grpc-addr", "127.0.0.1:9090", "gRPC listen address; port 0 picks a free port", func(c *Config, v string) error {
		c.GRPCAddr = v
		return checkAddr(v)
	}},
	{"database-url", "", "postgres://... to store in PostgreSQL; empty for SQLite under --data-dir", func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
			return errors.New("must be a postgres:// URL (or empty for the embedded SQLite store)")
		}
		c.DatabaseURL = v
		return nil
	}},
	{"nats-url", "", "nats:// URL of a NATS server with JetStream; empty runs an embedded one on loopback", func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "nats://") && !strings.HasPrefix(v, "tls://") {
			return errors.New("must be a nats:// or tls:// URL (or empty for the embedded server)")
		}
		c.NATSURL = v
		return nil
	}},
	{"log-level", "info", "debug, info, warn or error", func(c *Config, v string) error {
		return c.LogLevel.UnmarshalText([]byte(v))
	}},
	{"shutdown-timeout", "15s", "how long a graceful shutdown waits for in-flight requests", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		c.ShutdownTimeout = d
		return err
	}},
	{"apikey-cache-ttl", "30s", "how long a validator trusts a verified API key before asking the registry again", func(c *Config, v string) error {
		d, err := positiveDuration(v)
		if err == nil && d > 5*time.Minute {
			err = errors.New("must be at most 5m")
		}
		c.APIKeyCacheTTL = d
		return err
	}},
}

func checkAddr(v string) error {
	if _, _, err := net.SplitHostPort(v); err != nil {
		return errors.New("must be host:port")
	}
	return nil
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("must be a positive duration such as 30s")
	}
	return d, nil
}

// EnvName is the environment variable of an option.
func EnvName(name string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Error is an invalid option; its message is one line naming the option.
type Error struct {
	Option string
	Source string
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid option %s (from %s): %v", e.Option, e.Source, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Load parses args (what follows `serve`) with the environment given by
// getenv. A leading non-flag argument names the one service to run.
func Load(args []string, getenv func(string) string, usage io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("gatehouse serve", flag.ContinueOnError)
	fs.SetOutput(usage)
	values := make(map[string]*string, len(options))
	for _, o := range options {
		values[o.Name] = fs.String(o.Name, o.Default, fmt.Sprintf("%s (env %s)", o.Help, EnvName(o.Name)))
	}
	configFile := fs.String("config", "", "optional YAML file with the same option names as keys (env GATEHOUSE_CONFIG)")
	fs.Usage = func() {
		fmt.Fprintf(usage, "usage: gatehouse serve [%s] [flags]\n\nRuns every service in one process, or only the named one.\nPrecedence: flags, then GATEHOUSE_* environment variables, then --config YAML, then defaults.\n\n", strings.Join(Services, "|"))
		fs.PrintDefaults()
	}
	c := &Config{}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		c.Service = args[0]
		args = args[1:]
		if !slices.Contains(Services, c.Service) {
			return nil, &Error{Option: "service", Source: "arguments", Err: fmt.Errorf("unknown service %q (want one of %s)", c.Service, strings.Join(Services, ", "))}
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, &Error{Option: "arguments", Source: "arguments", Err: fmt.Errorf("unexpected %q", fs.Arg(0))}
	}
	setByFlag := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setByFlag[f.Name] = true })

	path := *configFile
	if !setByFlag["config"] && getenv("GATEHOUSE_CONFIG") != "" {
		path = getenv("GATEHOUSE_CONFIG")
	}
	fromFile := map[string]string{}
	if path != "" {
		var err error
		if fromFile, err = readYAML(path); err != nil {
			return nil, &Error{Option: "config", Source: path, Err: err}
		}
	}
	for _, o := range options {
		v, src := o.Default, "default"
		switch {
		case setByFlag[o.Name]:
			v, src = *values[o.Name], "flag --"+o.Name
		case getenv(EnvName(o.Name)) != "":
			v, src = getenv(EnvName(o.Name)), EnvName(o.Name)
		default:
			if fv, ok := fromFile[o.Name]; ok {
				v, src = fv, path
			}
		}
		if err := o.set(c, v); err != nil {
			return nil, &Error{Option: o.Name, Source: src, Err: err}
		}
	}
	return c, nil
}

func readYAML(path string) (map[string]string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // the operator names the config file
	if err != nil {
		return nil, errors.New("cannot read the file")
	}
	raw := map[string]any{}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, errors.New("not valid YAML")
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if !slices.ContainsFunc(options, func(o option) bool { return o.Name == k }) {
			return nil, fmt.Errorf("unknown key %q", k)
		}
		switch v := v.(type) {
		case string:
			out[k] = v
		case int, bool, float64:
			out[k] = fmt.Sprint(v)
		default:
			return nil, fmt.Errorf("key %q must be a scalar", k)
		}
	}
	return out, nil
}

// Options lists every option's name, default and environment variable, for
// the README's configuration table and the deployment-file checks.
func Options() [][3]string {
	out := make([][3]string, 0, len(options))
	for _, o := range options {
		out = append(out, [3]string{o.Name, o.Default, EnvName(o.Name)})
	}
	return out
}
