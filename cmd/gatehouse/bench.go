package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/loadgen"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// bench runs a bounded load against a local Gatehouse and prints the
// figures: `gatehouse bench token --client-id ID --client-secret S`.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && args[0] == "api" {
		return benchAPI(ctx, args[1:], stdout, stderr, getenv)
	}
	if len(args) == 0 || args[0] != "token" {
		fmt.Fprintln(stderr, "usage: gatehouse bench token|api [flags] (-h for the flags)")
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

// benchAPI mints tokens with client credentials, then drives GET --url with
// them: --tokens 1 measures a repeated token (the validators' cache), a
// number above their cache size measures fresh ones.
func benchAPI(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("gatehouse bench api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := loadgen.APIConfig{}
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080/v1/inventory/items", "protected API to GET (loopback only)")
	tokenURL := fs.String("token-url", "http://127.0.0.1:8080/oauth2/token", "token endpoint")
	clientID := fs.String("client-id", "", "client_id of a client allowed client_credentials")
	secret := fs.String("client-secret", getenv("GATEHOUSE_CLIENT_SECRET"), "its secret (or GATEHOUSE_CLIENT_SECRET)")
	scope := fs.String("scope", "", "scope to request")
	tokens := fs.Int("tokens", 1, "distinct tokens to cycle through (1: repeated token)")
	fs.IntVar(&cfg.Concurrency, "c", 16, "concurrent clients")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second, "how long to run (at most 10m)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *clientID == "" || *secret == "" || *tokens < 1 || *tokens > 100_000 || cfg.Duration <= 0 || cfg.Duration > 10*time.Minute {
		fmt.Fprintln(stderr, "gatehouse: bench api needs --client-id, --client-secret, 1 <= --tokens <= 100000 and 0 < -d <= 10m")
		return 2
	}
	cc := clientcredentials.Config{ClientID: *clientID, ClientSecret: *secret, TokenURL: *tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	if *scope != "" {
		cc.Scopes = strings.Fields(*scope)
	}
	for range *tokens {
		tok, err := cc.Token(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse: get a token: %v\n", err)
			return 1
		}
		cfg.Tokens = append(cfg.Tokens, tok.AccessToken)
	}
	res, err := loadgen.RunAPI(ctx, cfg)
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
