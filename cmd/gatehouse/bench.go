package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/loadgen"
)

// bench runs a bounded load against a local Gatehouse and prints the
// figures: `gatehouse bench token --client-id ID --client-secret S`.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] != "token" {
		fmt.Fprintln(stderr, "usage: gatehouse bench token --url URL --client-id ID --client-secret S [-c N] [-d 10s] [-n N]")
		return 2
	}
	fs := flag.NewFlagSet("gatehouse bench token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := loadgen.TokenConfig{}
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080/oauth2/token", "token endpoint (loopback only)")
	fs.StringVar(&cfg.ClientID, "client-id", "", "client_id of a client allowed client_credentials")
	fs.StringVar(&cfg.ClientSecret, "client-secret", getenv("GATEHOUSE_CLIENT_SECRET"), "its secret (or GATEHOUSE_CLIENT_SECRET)")
	fs.IntVar(&cfg.Concurrency, "c", 16, "concurrent clients")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second, "how long to run (at most 10m)")
	fs.IntVar(&cfg.Requests, "n", 0, "stop after this many requests (0: by duration)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.Duration <= 0 || cfg.Duration > 10*time.Minute {
		fmt.Fprintln(stderr, "gatehouse: bench token needs --client-id, --client-secret and 0 < -d <= 10m")
		return 2
	}
	res, err := loadgen.RunToken(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, res.String())
	if res.Failed > 0 {
		return 1
	}
	return 0
}
