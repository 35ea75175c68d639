// Command gatehouse is the whole of Gatehouse in one binary: `serve` runs
// every service (or one), and the other commands are the admin CLI.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/cli"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/internal/tracing/otlp"
)

const usage = `usage: gatehouse <command> [arguments]

Commands:
  serve [service]   run Gatehouse (all services, or only one: clients,
                    revocation, inventory)
  scopes            manage the scope catalogue
  clients           manage OAuth clients
  apikeys           manage API keys
  users             manage first-party users (sign-in accounts)
  certs             issue and list partners' client certificates (platform CA)
  revoke            revoke a token, refresh family, API key, client, user,
                    certificate or signing key
  bench token|api|soak
                    drive /oauth2/token or a protected API with N concurrent clients, or
                    soak Gatehouse with a mixed workload and report every outcome (loopback only)

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
