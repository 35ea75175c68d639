package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/benchbare"
	"github.com/gatehouse-dev/gatehouse/internal/loadgen"
	"github.com/gatehouse-dev/gatehouse/internal/scalerun"
	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// benchCommand is one `gatehouse bench <command>`.
type benchCommand struct {
	name, synopsis, summary string
	run                     func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int
}

func benchCommands() []benchCommand {
	return []benchCommand{
		{"token", "--client-id ID --client-secret S [-c 16] [-d 10s] [-n N] [--url U]",
			"drive /oauth2/token with concurrent client_credentials requests and report throughput and latency", benchToken},
		{"api", "--client-id ID --client-secret S [--scope S] [--tokens 1] [-c 16] [-d 10s] [--url U]",
			"get tokens with client credentials, then drive a protected API with them and report throughput and latency", benchAPI},
		{"soak", "--client-id ID --client-secret S [--api-key K] [--refresh-tokens T] [-c 8] [-d 1m] [--rate R]",
			"soak Gatehouse with a mixed workload (tokens, REST and gRPC validation, API keys, revocations, refreshes) and report every outcome", benchSoak},
		{"scale", "[--sizes 10000,100000,1000000] [--database-url U] [-c 16] [-d 5s] [--sample 20000] [-o text|json]",
			"load each size of clients, API keys, revocations (and a tenth as many users) into a PostgreSQL database of its own, start Gatehouse on it in process and report how the figures grow", benchScale},
		{"mint", "--client-id ID --client-secret S [--scope S] [-n 1000] [-c 16] [--url U]",
			"get N access tokens with client credentials and print them one per line (for a load tool's token pool)", benchMint},
		{"bare", "--issuer URL --client-id ID --client-secret S [--addr 127.0.0.1:8099] [--audience A]",
			"serve the bare yardstick handlers (POST /token, GET /cached, GET /uncached, GET /allow) that Gatehouse's HTTP figures are compared with", benchBare},
	}
}

// bench runs a bounded load against a local Gatehouse and prints the
// figures: `gatehouse bench token --client-id ID --client-secret S`. Its
// help and errors read as the admin commands' do.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cmds := benchCommands()
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	if len(args) == 0 {
		fmt.Fprintf(stderr, "gatehouse: bench: missing command, one of %s (run 'gatehouse bench -h')\n", strings.Join(names, ", "))
		return 2
	}
	if slices.Contains([]string{"help", "-h", "-help", "--help"}, args[0]) {
		fmt.Fprint(stdout, "usage: gatehouse bench <command> [flags]\n\nDrive a Gatehouse on this machine with concurrent clients and report the figures (loopback addresses only).\n\nCommands:\n")
		for _, c := range cmds {
			fmt.Fprintf(stdout, "  %-5s  %s\n", c.name, c.summary)
		}
		fmt.Fprint(stdout, "\nRun 'gatehouse bench <command> -h' for a command's flags.\n")
		return 0
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr, getenv)
		}
	}
	fmt.Fprintf(stderr, "gatehouse: bench: unknown command %q, want one of %s (run 'gatehouse bench -h')\n", args[0], strings.Join(names, ", "))
	return 2
}

// benchFlags makes the flag set of `gatehouse bench <name>`.
func benchFlags(name string) (*flag.FlagSet, func(args []string, stdout, stderr io.Writer) (int, bool)) {
	for _, c := range benchCommands() {
		if c.name == name {
			fs := flag.NewFlagSet("gatehouse bench "+name, flag.ContinueOnError)
			return fs, func(args []string, stdout, stderr io.Writer) (int, bool) {
				return parseFlags(fs, args, stdout, stderr, "bench "+name, []string{"gatehouse bench " + name + " " + c.synopsis}, c.summary)
			}
		}
	}
	panic("gatehouse: no bench command " + name)
}

func benchToken(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs, parse := benchFlags("token")
	cfg := loadgen.TokenConfig{}
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080/oauth2/token", "token endpoint (loopback only)")
	fs.StringVar(&cfg.ClientID, "client-id", "", "client_id of a client allowed client_credentials")
	fs.StringVar(&cfg.ClientSecret, "client-secret", getenv("GATEHOUSE_CLIENT_SECRET"), "its secret (or GATEHOUSE_CLIENT_SECRET)")
	fs.IntVar(&cfg.Concurrency, "c", 16, "concurrent clients")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second, "how long to run (at most 10m)")
	fs.IntVar(&cfg.Requests, "n", 0, "stop after this many requests (0: by duration)")
	if code, done := parse(args, stdout, stderr); done {
		return code
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
	fs, parse := benchFlags("api")
	cfg := loadgen.APIConfig{}
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080/v1/inventory/items", "protected API to GET (loopback only)")
	tokenURL := fs.String("token-url", "http://127.0.0.1:8080/oauth2/token", "token endpoint")
	clientID := fs.String("client-id", "", "client_id of a client allowed client_credentials")
	secret := fs.String("client-secret", getenv("GATEHOUSE_CLIENT_SECRET"), "its secret (or GATEHOUSE_CLIENT_SECRET)")
	scope := fs.String("scope", "", "scope to request")
	tokens := fs.Int("tokens", 1, "distinct tokens to cycle through (1: repeated token)")
	fs.IntVar(&cfg.Concurrency, "c", 16, "concurrent clients")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second, "how long to run (at most 10m)")
	if code, done := parse(args, stdout, stderr); done {
		return code
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

// benchSoak runs the mixed workload of loadgen.RunSoak: token issuance,
// validation over REST and gRPC, API-key calls, revocations checked
// against the API, and refreshes when given a refresh token. It exits 1
// when any operation failed or a revocation was lost.
func benchSoak(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs, parse := benchFlags("soak")
	cfg := loadgen.SoakConfig{}
	fs.StringVar(&cfg.BaseURL, "url", "http://127.0.0.1:8080", "Gatehouse's HTTP base URL (loopback only), serving --example-inventory")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:9090", "its plain gRPC address (loopback only)")
	fs.StringVar(&cfg.ClientID, "client-id", "", "client_id of a client allowed client_credentials and inventory:read")
	fs.StringVar(&cfg.ClientSecret, "client-secret", getenv("GATEHOUSE_CLIENT_SECRET"), "its secret (or GATEHOUSE_CLIENT_SECRET)")
	fs.StringVar(&cfg.Scope, "scope", "", "scope to request (empty: the client's scopes)")
	fs.StringVar(&cfg.APIKey, "api-key", getenv("GATEHOUSE_API_KEY"), "an API key allowed inventory:read (or GATEHOUSE_API_KEY); empty leaves API-key calls out")
	fs.StringVar(&cfg.RefreshClientID, "refresh-client-id", "", "client_id the refresh tokens were issued to")
	fs.StringVar(&cfg.RefreshClientSecret, "refresh-client-secret", getenv("GATEHOUSE_REFRESH_CLIENT_SECRET"), "its secret, for a confidential client (or GATEHOUSE_REFRESH_CLIENT_SECRET)")
	refresh := fs.String("refresh-tokens", getenv("GATEHOUSE_REFRESH_TOKENS"), "comma-separated refresh tokens of --refresh-client-id (or GATEHOUSE_REFRESH_TOKENS); none leaves refreshes out")
	fs.IntVar(&cfg.Concurrency, "c", 8, "concurrent workers (at most 256)")
	fs.DurationVar(&cfg.Duration, "d", time.Minute, "how long to run (at most 30m)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "cap on operations per second (0: as fast as the workers go)")
	fs.DurationVar(&cfg.RevocationBound, "revocation-bound", 2*time.Second, "how long after a revocation's 200 the API may still accept the token (at least the server's --revocation-resync-interval while NATS is down)")
	if code, done := parse(args, stdout, stderr); done {
		return code
	}
	if *refresh != "" {
		cfg.RefreshTokens = strings.Split(*refresh, ",")
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.Duration <= 0 || cfg.Duration > loadgen.MaxSoakDuration {
		fmt.Fprintln(stderr, "gatehouse: bench soak needs --client-id, --client-secret and 0 < -d <= 30m")
		return 2
	}
	res, err := loadgen.RunSoak(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, res.String())
	if len(res.Failures) > 0 || res.FailuresDropped > 0 || res.Revocations.Lost > 0 || res.Revocations.RecheckAccepted > 0 {
		return 1
	}
	return 0
}

// benchScale runs scalerun: it drops and creates the database of
// --database-url for each size, so that database's name must start with
// gatehouse_scale. It exits 1 when a measured request failed.
func benchScale(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs, parse := benchFlags("scale")
	cfg := scalerun.Config{Progress: stderr}
	sizes := fs.String("sizes", joinInts(scalerun.DefaultSizes), "comma-separated numbers of clients, API keys and revocations to load, one run each (users: a tenth)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", cmp.Or(getenv("GATEHOUSE_SCALE_DATABASE_URL"), "postgres://postgres@127.0.0.1:5432/"+scalerun.DatabasePrefix+"?sslmode=disable"),
		"PostgreSQL database to drop, create and fill for each size, on a loopback address, its name starting with "+scalerun.DatabasePrefix+" (or GATEHOUSE_SCALE_DATABASE_URL)")
	fs.IntVar(&cfg.Concurrency, "c", 16, "requests in flight")
	fs.DurationVar(&cfg.Duration, "d", 5*time.Second, "how long each rate is measured (at most 1m); the runs that use each client or key once stop after three times as long")
	fs.IntVar(&cfg.Sample, "sample", 20_000, "distinct clients and keys the cache-miss runs use, spread over the loaded ones")
	fs.BoolVar(&cfg.Keep, "keep", false, "leave the last size's database in place")
	out := fs.String("o", "text", "output: text (a table per size and one of growth) or json")
	if code, done := parse(args, stdout, stderr); done {
		return code
	}
	var err error
	if cfg.Sizes, err = parseInts(*sizes); err != nil || (*out != "text" && *out != "json") {
		fmt.Fprintf(stderr, "gatehouse: bench scale needs --sizes as comma-separated numbers and -o text or json (%v)\n", err)
		return 2
	}
	rep, err := scalerun.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: bench scale: %v\n", err)
		return 1
	}
	if *out == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "gatehouse: bench scale: %v\n", err)
			return 1
		}
	} else {
		fmt.Fprint(stdout, rep.String())
	}
	if rep.Failed() {
		return 1
	}
	return 0
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("size %q: %w", f, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// benchMint prints -n access tokens, for a load tool (wrk) to cycle
// through: more tokens than the validators cache measures fresh tokens.
func benchMint(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs, parse := benchFlags("mint")
	tokenURL := fs.String("url", "http://127.0.0.1:8080/oauth2/token", "token endpoint (loopback only)")
	clientID := fs.String("client-id", "", "client_id of a client allowed client_credentials")
	secret := fs.String("client-secret", getenv("GATEHOUSE_CLIENT_SECRET"), "its secret (or GATEHOUSE_CLIENT_SECRET)")
	scope := fs.String("scope", "", "scope to request")
	n := fs.Int("n", 1000, "how many tokens (at most 1000000)")
	conc := fs.Int("c", 16, "concurrent requests (at most 256)")
	if code, done := parse(args, stdout, stderr); done {
		return code
	}
	if *clientID == "" || *secret == "" || *n < 1 || *n > 1_000_000 || *conc < 1 || *conc > 256 {
		fmt.Fprintln(stderr, "gatehouse: bench mint needs --client-id, --client-secret, 1 <= -n <= 1000000 and 1 <= -c <= 256")
		return 2
	}
	tokens, err := loadgen.MintTokens(ctx, loadgen.MintConfig{URL: *tokenURL, ClientID: *clientID, ClientSecret: *secret, Scope: *scope, N: *n, Concurrency: *conc})
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	for _, t := range tokens {
		fmt.Fprintln(stdout, t)
	}
	return 0
}

// benchBare serves the yardstick of internal/benchbare on a loopback
// address until interrupted.
func benchBare(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs, parse := benchFlags("bare")
	addr := fs.String("addr", "127.0.0.1:8099", "loopback address to listen on")
	issuer := fs.String("issuer", "http://127.0.0.1:8080", "Gatehouse's issuer: its tokens are what /cached and /uncached validate, against its JWKS")
	audience := fs.String("audience", "urn:gatehouse:api", "audience the tokens must carry (Gatehouse's --default-audience)")
	clientID := fs.String("client-id", "bench", "the one client /token serves")
	secret := fs.String("client-secret", getenv("GATEHOUSE_CLIENT_SECRET"), "its secret (or GATEHOUSE_CLIENT_SECRET)")
	if code, done := parse(args, stdout, stderr); done {
		return code
	}
	if *secret == "" {
		fmt.Fprintln(stderr, "gatehouse: bench bare needs --client-secret")
		return 2
	}
	if !loopback.HostPort(*addr) {
		fmt.Fprintf(stderr, "gatehouse: bench bare: --addr %q is not a loopback address\n", *addr)
		return 2
	}
	set, err := benchbare.FetchJWKS(ctx, strings.TrimSuffix(*issuer, "/")+"/.well-known/jwks.json")
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	h, err := benchbare.Handler(benchbare.Config{Issuer: *issuer, Audience: *audience, JWKS: set, ClientID: *clientID, ClientSecret: *secret})
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Fprintf(stdout, "serving the yardstick on http://%s (POST /token, GET /cached, GET /uncached, GET /allow)\n", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	return 0
}
