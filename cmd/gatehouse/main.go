// Command gatehouse is the whole of Gatehouse in one binary: `serve` runs
// every service (or one), and the other commands are the admin CLI.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/cli"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/k8ssecret"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/internal/tracing/otlp"
)

const usage = `usage: gatehouse <command> [arguments]

Commands:
  serve [service]   run Gatehouse (all services, or only one: clients,
                    token, keys, revocation, gateway, inventory, or authz:
                    the gateway authorizer alone)
  admin create-key  mint an admin API key in the registry's store, no server
                    needed: the first key of a deployment, or a lost one's
                    replacement (operator, with the database)
  service-cert      issue a service's identity for a split deployment, or
                    a resource service's validator identity (--role
                    validator; operator, with the KEK and the database)
  scopes            manage the scope catalogue
  clients           manage OAuth clients
  apikeys           manage API keys
  users             manage first-party users (sign-in accounts)
  certs             issue and list partners' client certificates (platform CA)
  keys              list and rotate the token signing keys (--compromised: emergency)
  revocations       list the revocation list (admins)
  revoke            revoke a token, refresh family, API key, client, user,
                    certificate or signing key
  bench token|api|soak|scale|mint|bare
                    drive /oauth2/token or a protected API with N concurrent clients,
                    soak Gatehouse with a mixed workload and report every outcome, or
                    measure it on PostgreSQL at growing sizes; mint a token pool or
                    serve the bare yardstick handlers for wrk (loopback only)
  version           show the module version, commit and Go version (also --version)

Run 'gatehouse <command> -h' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr, getenv)
	case "bench":
		return bench(ctx, args[1:], stdout, stderr, getenv)
	case "service-cert":
		return serviceCert(ctx, args[1:], stdout, stderr, getenv)
	case "admin":
		return admin(ctx, args[1:], stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		return cli.Run(ctx, args, stdin, stdout, stderr, getenv)
	}
}

func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) int {
	cfg, err := config.Load(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 2
	}
	// Every line logged with a request's context carries its trace_id
	// and span_id.
	log := slog.New(tracing.LogHandler(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})))
	slog.SetDefault(log)
	// Tracing is the process's (OpenTelemetry globals), set up before the
	// App so that its instrumentation finds the provider; its shutdown
	// flushes the last spans once the App has stopped.
	shutdownTracing, err := tracing.Setup(ctx, cfg, tracing.WithExporter(otlp.Exporter))
	if err != nil {
		log.Error("start failed", "error", err)
		return 1
	}
	if cfg.OTLPEndpoint != "" {
		log.Info("exporting traces over OTLP", "otlp_endpoint", cfg.OTLPEndpoint, "plaintext", cfg.OTLPInsecure)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(ctx); err != nil {
			log.Warn("tracing shutdown incomplete", "error", err)
		}
	}()
	a, err := app.Start(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", "error", err)
		return 1
	}
	if err := a.Wait(ctx); err != nil {
		log.Error("stopped with error", "error", err)
		return 1
	}
	return 0
}

// serviceCert is `gatehouse service-cert <service> --host h[,h] --out dir`,
// or `gatehouse service-cert --name N --role validator --host h --out dir`
// for a resource service outside Gatehouse: the platform CA issues the
// identity, read from the same store and KEK as `serve keys`
// (--database-url or the SQLite file under --data-dir, --kek-file or
// GATEHOUSE_KEK).
func serviceCert(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("gatehouse service-cert", flag.ContinueOnError)
	env := optionEnv(getenv)
	name := fs.String("name", "", "the service's name: a Gatehouse service's (as the positional argument), or with --role validator a resource service's own")
	role := fs.String("role", "", "validator: the identity of a resource service outside Gatehouse that validates its own callers (scope gatehouse:validator); empty for a Gatehouse service")
	hosts := fs.String("host", "", "comma-separated DNS names and IP addresses the service's replicas are reached at (its mTLS listener's names)")
	out := fs.String("out", ".", "directory to write <name>.crt, <name>.key (0600) and ca.crt into")
	validity := fs.Duration("validity", 0, "validity of the certificate (at most and by default 90 days)")
	dataDir := fs.String("data-dir", env("data-dir", "./data"), "as for serve: the SQLite store's directory (env GATEHOUSE_DATA_DIR)")
	dbURL := fs.String("database-url", env("database-url", ""), "as for serve: the PostgreSQL store (env GATEHOUSE_DATABASE_URL)")
	kekFile := fs.String("kek-file", env("kek-file", ""), "as for serve: the key-encryption key (env GATEHOUSE_KEK_FILE; or GATEHOUSE_KEK)")
	service, rest := "", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		service, rest = args[0], args[1:]
	}
	usage := []string{
		fmt.Sprintf("gatehouse service-cert <%s> --host names [--out dir] [--validity 90d]", strings.Join(config.Services, "|")),
		"gatehouse service-cert --name N --role validator --host names [--out dir] [--validity 90d]",
	}
	if code, done := parseFlags(fs, rest, stdout, stderr, "service-cert", usage,
		"Issue a Gatehouse service's identity for a split deployment, or a resource service's validator identity, from the platform CA (run by an operator, with the KEK and the database)"); done {
		return code
	}
	service, err := serviceCertName(service, *name, fs.Args())
	if err == nil {
		err = app.CheckServiceIdentity(service, *role)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse service-cert: %v\n", err)
		return 2
	}
	cfg := &config.Config{DataDir: *dataDir, DatabaseURL: *dbURL, KEKFile: *kekFile, KEK: getenv("GATEHOUSE_KEK")}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var hostList []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hostList = append(hostList, h)
		}
	}
	if err := app.IssueIdentityCertificate(ctx, cfg, log, service, *role, hostList, *validity, *out); err != nil {
		fmt.Fprintf(stderr, "gatehouse service-cert: %v\n", err)
		return 1
	}
	return 0
}

// parseFlags parses a command's flags as the admin commands do: -h prints
// the usage lines, the summary and the flags on stdout (exit 0); a flag
// that does not parse is one line on stderr (exit 2). done is false when
// the command goes on.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, name string, usage []string, summary string) (code int, done bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stdout, "usage: %s\n", usage[0])
		for _, u := range usage[1:] {
			fmt.Fprintf(stdout, "       %s\n", u)
		}
		fmt.Fprintf(stdout, "\n%s.\n\nFlags:\n", strings.ToUpper(summary[:1])+summary[1:])
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		return 0, true
	case err != nil:
		fmt.Fprintf(stderr, "gatehouse: %s: %v (run 'gatehouse %s -h')\n", name, err, name)
		return 2, true
	}
	return 0, false
}

// serviceCertName is the name service-cert issues for: the positional
// argument or --name, one of them, and nothing else on the command line.
func serviceCertName(positional, flagged string, extra []string) (string, error) {
	switch {
	case len(extra) > 0:
		return "", fmt.Errorf("unexpected argument %q: flags go after the service's name", extra[0])
	case positional != "" && flagged != "" && positional != flagged:
		return "", fmt.Errorf("two names, %q and --name %q: give one", positional, flagged)
	case positional != "":
		return positional, nil
	case flagged != "":
		return flagged, nil
	}
	return "", errors.New("name the service: gatehouse service-cert <service>, or --name N --role validator")
}

// optionEnv returns the lookup of an option's environment variable
// (GATEHOUSE_<NAME>) with a default, for the commands that take a few of
// serve's options without its whole configuration.
func optionEnv(getenv func(string) string) func(name, def string) string {
	return func(name, def string) string {
		if v := getenv(config.EnvName(name)); v != "" {
			return v
		}
		return def
	}
}

// serviceAccountDir is where admin create-key --k8s-secret reads the pod's
// service account (tests point it at a fake's).
var serviceAccountDir = k8ssecret.ServiceAccountDir

// admin is `gatehouse admin create-key --name N [--out FILE] [-o json]`:
// an admin API key made in the registry's store (app.MintAdminKey),
// printed once or written, with mode 0600, to a credentials file the
// other commands read with --credentials.
func admin(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	usage := []string{"gatehouse admin create-key --name NAME [--scopes S] [--out FILE | --k8s-secret NAME] [--grpc-addr host:port] [-o text|json]"}
	if len(args) == 0 || args[0] != "create-key" {
		if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintf(stdout, "usage: %s\n\nCommands:\n  create-key  mint an admin API key in the registry's store\n\nRun 'gatehouse admin create-key -h' for its flags.\n", usage[0])
			return 0
		}
		fmt.Fprintln(stderr, "gatehouse: admin: the command is create-key (run 'gatehouse admin -h')")
		return 2
	}
	fs := flag.NewFlagSet("gatehouse admin create-key", flag.ContinueOnError)
	env := optionEnv(getenv)
	name := fs.String("name", "", "whose key it is, e.g. an operator's name or a deployment job's (required; shown where keys are listed)")
	out := fs.String("out", "", "write a credentials file (api_key, grpc_addr; mode 0600) to `FILE` instead of printing the key")
	grpcAddr := fs.String("grpc-addr", "", "the registry's gRPC address to record in the --out file, for the other commands")
	k8sSecret := fs.String("k8s-secret", "", "in a Kubernetes pod: make the key only if the Secret `NAME` does not exist in the pod's namespace, and store it there as admin-credentials.json (api_key, grpc_addr) instead of printing it; the first-admin-key Job (deploy/k8s)")
	format := fs.String("o", "text", "output format: text or json")
	scopes := fs.String("scopes", "", "comma-separated admin scopes narrowing the key: gatehouse:admin.read, .clients, .users, .keys, .revoke (default gatehouse:admin: every admin API)")
	dataDir := fs.String("data-dir", env("data-dir", "./data"), "as for serve: the SQLite store's directory (env GATEHOUSE_DATA_DIR)")
	dbURL := fs.String("database-url", env("database-url", ""), "as for serve: the PostgreSQL store (env GATEHOUSE_DATABASE_URL)")
	if code, done := parseFlags(fs, args[1:], stdout, stderr, "admin create-key", usage,
		"mint an admin API key (scope gatehouse:admin, or narrower with --scopes) directly in the registry's store, no server needed: the first key of a deployment, or a lost one's replacement. It is shown once; list and revoke it like any key (gatehouse apikeys list --client gatehouse-admin)"); done {
		return code
	}
	if fs.NArg() > 0 || *name == "" || (*format != "text" && *format != "json") || (*out != "" && *k8sSecret != "") {
		fmt.Fprintln(stderr, "gatehouse: admin create-key: --name is required, -o is text or json, --out and --k8s-secret exclude each other, and nothing else is taken (run 'gatehouse admin create-key -h')")
		return 2
	}
	var secrets *k8ssecret.Client
	if *k8sSecret != "" {
		var err error
		if secrets, err = k8ssecret.InCluster(getenv, serviceAccountDir); err != nil {
			fmt.Fprintf(stderr, "gatehouse: admin create-key: --k8s-secret: %v\n", err)
			return 1
		}
		exists, err := secrets.Exists(ctx, *k8sSecret)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse: admin create-key: --k8s-secret: %v\n", err)
			return 1
		}
		if exists {
			// Run again (a re-applied Job, a restarted pod): the first
			// key stands, and no second one is made.
			if *format == "json" {
				b, _ := json.MarshalIndent(map[string]any{"secret": secrets.Namespace() + "/" + *k8sSecret, "created": false}, "", "  ")
				fmt.Fprintln(stdout, string(b))
			} else {
				fmt.Fprintf(stdout, "Secret %s/%s exists: no key made.\n", secrets.Namespace(), *k8sSecret)
			}
			return 0
		}
	}
	cfg := &config.Config{DataDir: *dataDir, DatabaseURL: *dbURL}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var scopeList []string
	for _, sc := range strings.Split(*scopes, ",") {
		if sc = strings.TrimSpace(sc); sc != "" {
			scopeList = append(scopeList, sc)
		}
	}
	raw, key, err := app.MintAdminKey(ctx, cfg, log, *name, scopeList...)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: admin create-key: %v\n", err)
		return 1
	}
	// Where the key went instead of the output, if anywhere.
	creds, dest := app.Credentials{APIKey: raw, GRPCAddr: *grpcAddr}, ""
	switch {
	case secrets != nil:
		dest = "secret " + secrets.Namespace() + "/" + *k8sSecret
		b, err := creds.Marshal()
		if err == nil {
			labels := map[string]string{"app.kubernetes.io/name": "gatehouse", "app.kubernetes.io/component": "admin-key"}
			err = secrets.Create(ctx, *k8sSecret, labels, map[string][]byte{app.CredentialsFile: b})
		}
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse: admin create-key: %v (the key %s was made: revoke it with gatehouse apikeys revoke)\n", err, key.KeyID)
			return 1
		}
	case *out != "":
		dest = *out
		if err := app.WriteCredentials(*out, creds); err != nil {
			fmt.Fprintf(stderr, "gatehouse: admin create-key: %v (the key %s was made: revoke it)\n", err, key.KeyID)
			return 1
		}
	}
	if *format == "json" {
		v := map[string]any{"key_id": key.KeyID, "client_id": key.ClientID, "name": key.Description, "scopes": key.Scopes}
		switch {
		case secrets != nil:
			v["secret"], v["created"] = secrets.Namespace()+"/"+*k8sSecret, true
		case dest != "":
			v["credentials_file"] = dest
		default:
			v["api_key"] = raw
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	if dest != "" {
		fmt.Fprintf(stdout, "Admin key %s (%s) written to %s.\n", key.KeyID, key.Description, dest)
		return 0
	}
	fmt.Fprintf(stdout, "Admin key %s (%s); it is shown once:\n%s\n", key.KeyID, key.Description, raw)
	return 0
}
