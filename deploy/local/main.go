// Command local runs the split topology of the deployment files as plain
// processes on loopback (run.sh builds the binaries and calls it): a
// three-node NATS JetStream cluster, the local PostgreSQL, two token
// services and gateways, three inventory replicas and one of each other
// service (the gateway authorizer with the example API's routes unless
// --authz-routes names a file). It prints every process's ports and the admin API key's file,
// then runs until interrupted (or for --for), and stops everything.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/topology"
)

func main() {
	bin := flag.String("gatehouse", "bin/gatehouse", "the gatehouse binary")
	natsBin := flag.String("nats-server", "nats-server", "the nats-server binary")
	dbURL := flag.String("database-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL database for every service's tables")
	dir := flag.String("dir", "data/local", "working directory: data, certificates, logs, and the key-encryption key the database's keys are sealed with (kept across runs)")
	runFor := flag.Duration("for", 0, "stop after this long; 0 runs until interrupted")
	routes := flag.String("authz-routes", "", "route-rules file of serve authz; empty: the example inventory API's routes, written into --dir")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: deploy/local/run.sh [flags] [-- serve options for every service]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*bin, *natsBin, *dbURL, *dir, *routes, *runFor, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "deploy/local:", err)
		os.Exit(1)
	}
}

func run(bin, natsBin, dbURL, dir, routes string, runFor time.Duration, serveArgs []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if dir == "" {
		d, err := os.MkdirTemp("", "gatehouse-local-")
		if err != nil {
			return err
		}
		dir = d
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) || filepath.Base(p) == p {
			return p // absolute, or found on PATH
		}
		a, _ := filepath.Abs(p)
		return a
	}
	if routes != "" {
		// The processes run elsewhere than here.
		a, err := filepath.Abs(routes)
		if err != nil {
			return fmt.Errorf("authz-routes: %w", err)
		}
		routes = a
	}
	start := time.Now()
	t, err := topology.Start(ctx, topology.Options{Binary: abs(bin), NATSServer: abs(natsBin), DatabaseURL: dbURL, Dir: dir, Args: serveArgs, AuthzRoutes: routes})
	if err != nil {
		return err
	}
	defer t.Stop()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "process\tports\n")
	for _, p := range t.NATS {
		fmt.Fprintf(w, "%s\t%s\n", p.Name, p.Ports())
	}
	for _, p := range t.All() {
		fmt.Fprintf(w, "%s\t%s\n", p.Name, p.Ports())
	}
	_ = w.Flush()
	fmt.Printf("\nready in %s\nissuer: %s\nadmin API key: in %s\nlogs: %s\nNATS: %s\n",
		time.Since(start).Round(time.Millisecond), t.Issuer,
		filepath.Join(dir, t.Services["clients"][0].Name, "admin-credentials.json"), filepath.Join(dir, "logs"), t.NATSURLs)
	for _, p := range t.Services["authz"] {
		fmt.Printf("gateway authorizer: http://%s/authz/check (forward auth; Envoy ext_authz on the same port)\n", p.Authz)
	}
	if runFor > 0 {
		fmt.Printf("running for %s\n", runFor)
		select {
		case <-ctx.Done():
		case <-time.After(runFor):
		}
	} else {
		fmt.Println("running until interrupted (Ctrl-C)")
		<-ctx.Done()
	}
	fmt.Println("stopping")
	return nil
}
