package scalerun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/loadgen"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
)

// Bounds of a run: every size is loaded and measured in bounded time, and
// a million rows is the largest size this machine is asked to hold.
const (
	MaxSize        = 10_000_000
	MaxSample      = 100_000
	MaxDuration    = time.Minute
	maxConcurrency = 256
	// readyTimeout bounds a start-up, the snapshot of the server's own
	// revocation list included.
	readyTimeout = 5 * time.Minute
)

// DefaultSizes are the sizes of `gatehouse bench scale`.
var DefaultSizes = []int{10_000, 100_000, 1_000_000}

// Config configures Run.
type Config struct {
	// DatabaseURL names the database the run drops, creates and fills for
	// each size: on a loopback address, its name starting with
	// DatabasePrefix.
	DatabaseURL string
	Sizes       []int
	// Duration is how long each rate is measured; the runs that use each
	// client or key once stop after three times as long at most.
	Duration time.Duration
	// Concurrency is the number of requests in flight.
	Concurrency int
	// Sample is how many distinct clients and keys the uncached runs use,
	// spread evenly over the loaded ones.
	Sample int
	// Keep leaves the last size's database in place.
	Keep bool
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

func (c *Config) check() error {
	var errs []error
	if _, _, err := checkDatabaseURL(c.DatabaseURL); err != nil {
		errs = append(errs, err)
	}
	if len(c.Sizes) == 0 {
		errs = append(errs, errors.New("no size"))
	}
	for _, n := range c.Sizes {
		if n < 10 || n > MaxSize {
			errs = append(errs, fmt.Errorf("size %d: want 10 to %d", n, MaxSize))
		}
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %s: want more than 0 and at most %s", c.Duration, MaxDuration))
	}
	if c.Concurrency < 1 || c.Concurrency > maxConcurrency {
		errs = append(errs, fmt.Errorf("concurrency %d: want 1 to %d", c.Concurrency, maxConcurrency))
	}
	if c.Sample < 1 || c.Sample > MaxSample {
		errs = append(errs, fmt.Errorf("sample %d: want 1 to %d", c.Sample, MaxSample))
	}
	if len(errs) > 0 {
		return fmt.Errorf("scalerun: %w", errors.Join(errs...))
	}
	return nil
}

// Run loads and measures each size in turn, on a database created for it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	rep := &Report{Concurrency: cfg.Concurrency, Duration: cfg.Duration, CPUs: runtime.NumCPU(), Started: time.Now().UTC()}
	for _, n := range cfg.Sizes {
		f, err := runSize(ctx, cfg, n)
		if err != nil {
			return rep, fmt.Errorf("size %d: %w", n, err)
		}
		rep.Sizes = append(rep.Sizes, *f)
	}
	if !cfg.Keep {
		if err := dropDatabase(context.WithoutCancel(ctx), cfg.DatabaseURL); err != nil {
			return rep, err
		}
	}
	rep.Took = time.Since(rep.Started)
	return rep, nil
}

func (c Config) step(format string, args ...any) {
	fmt.Fprintf(c.Progress, "scale: "+format+"\n", args...)
}

// runSize is one size: a fresh database the server migrates and seeds,
// the bulk load, a second start on the loaded database, the measurements.
func runSize(ctx context.Context, cfg Config, n int) (*Figures, error) {
	f := &Figures{Size: n}
	if err := recreateDatabase(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "gatehouse-scale-")
	if err != nil {
		return nil, fmt.Errorf("scalerun: data directory: %w", err)
	}
	defer os.RemoveAll(dataDir) //nolint:errcheck // a temporary directory

	// The server makes the schema and the scope catalogue, as in
	// production; the load only adds rows.
	cfg.step("%d: schema (first start on an empty database)", n)
	a, _, err := startServer(ctx, dataDir, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	a.Shutdown()

	g, err := newGen(time.Now())
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("scalerun: open the database: %w", err)
	}
	defer pool.Close()
	stride := max(1, n/cfg.Sample)
	cfg.step("%d: loading %d clients, %d API keys, %d revocations, %d users", n, n, n, n, n/10)
	var smp samples
	if f.Load, smp, err = load(ctx, pool, g, n, stride); err != nil {
		return nil, err
	}
	cfg.step("%d: loaded %d rows in %s", n, f.Load.Rows, f.Load.Took.Round(time.Millisecond))

	cfg.step("%d: start on the loaded database", n)
	a, f.StartUp, err = startServer(ctx, dataDir, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer a.Shutdown()
	if err := measure(ctx, cfg, a, dataDir, g, smp, n, f); err != nil {
		return nil, err
	}
	if f.DatabaseBytes, f.Tables, err = sizes(ctx, pool); err != nil {
		return nil, err
	}
	return f, nil
}

// tiers raises every rate-limit tier out of the way: the run measures the
// server, not its budgets.
const tiers = "low=1000000:1000000,standard=1000000:1000000,high=1000000:1000000,internal=1000000:1000000"

// startServer starts the all-in-one server on the database with loopback
// listeners and waits until it is ready, which includes its revocation
// list's first snapshot.
func startServer(ctx context.Context, dataDir, dbURL string) (*app.App, time.Duration, error) {
	cfg, err := config.Load([]string{
		"--data-dir", dataDir, "--database-url", dbURL,
		"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--mtls-addr", "",
		"--example-inventory", "--rate-limit-tiers", tiers, "--log-level", "error",
	}, func(string) string { return "" }, io.Discard)
	if err != nil {
		return nil, 0, fmt.Errorf("scalerun: server configuration: %w", err)
	}
	// The server's logs stay out of the report: the end of each timed run
	// cancels requests in flight, which it logs as errors, and what failed
	// shows in the figures.
	log := slog.New(slog.DiscardHandler)
	began := time.Now()
	a, err := app.Start(ctx, cfg, log)
	if err != nil {
		return nil, 0, fmt.Errorf("scalerun: start the server: %w", err)
	}
	if err := waitReady(ctx, "http://"+a.HTTPAddr()+"/readyz"); err != nil {
		a.Shutdown()
		return nil, 0, err
	}
	return a, time.Since(began), nil
}

func waitReady(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return fmt.Errorf("scalerun: readiness: %w", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("scalerun: the server was not ready within %s", readyTimeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// apiKeyAuth sends an API key on every gRPC call of a connection.
type apiKeyAuth string

func (k apiKeyAuth) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "ApiKey " + string(k)}, nil
}

// RequireTransportSecurity is false: the calls go to a loopback address.
func (apiKeyAuth) RequireTransportSecurity() bool { return false }

// measure takes the figures of a running server.
func measure(ctx context.Context, cfg Config, a *app.App, dataDir string, g *gen, smp samples, n int, f *Figures) error {
	base := "http://" + a.HTTPAddr()
	admin, err := adminKey(dataDir)
	if err != nil {
		return err
	}
	long := 3 * cfg.Duration

	// 1. Token issuance, each request for a client not seen before.
	var creds []loadgen.ClientCredentials
	for i := 0; i < n && len(creds) < cfg.Sample; i += smp.stride {
		creds = append(creds, loadgen.ClientCredentials{ID: g.ClientID(i), Secret: g.ClientSecret(i)})
	}
	cfg.step("%d: token endpoint, %d distinct clients", n, len(creds))
	res, err := loadgen.RunToken(ctx, loadgen.TokenConfig{URL: base + "/oauth2/token", Clients: creds,
		Concurrency: cfg.Concurrency, Duration: long, Requests: len(creds)})
	if err != nil {
		return err
	}
	f.Token = rateOf(res)

	// 2. API-key verification at the example API: one key repeated, then
	// each key once.
	items := base + "/v1/inventory/items"
	cfg.step("%d: API key, one key repeated", n)
	if res, err = loadgen.RunAPI(ctx, loadgen.APIConfig{URL: items, Scheme: "ApiKey", Tokens: smp.apiKeys[:1],
		Concurrency: cfg.Concurrency, Duration: cfg.Duration}); err != nil {
		return err
	}
	f.APIKeyCached = rateOf(res)
	fresh := smp.apiKeys[1:]
	if len(fresh) == 0 {
		fresh = smp.apiKeys
	}
	cfg.step("%d: API key, %d keys each seen once", n, len(fresh))
	if res, err = loadgen.RunAPI(ctx, loadgen.APIConfig{URL: items, Scheme: "ApiKey", Tokens: fresh,
		Concurrency: cfg.Concurrency, Duration: long, Requests: len(fresh)}); err != nil {
		return err
	}
	f.APIKeyUncached = rateOf(res)

	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("scalerun: dial gRPC: %w", err)
	}
	defer conn.Close() //nolint:errcheck // nothing left to do with it

	// 3. A new validator's first snapshot of the list.
	cfg.step("%d: a new validator loads the revocation list", n)
	if f.Snapshot, err = snapshot(ctx, conn, admin); err != nil {
		return err
	}

	// 4. JWKS and introspection.
	cfg.step("%d: JWKS", n)
	if res, err = loadgen.RunAPI(ctx, loadgen.APIConfig{URL: base + "/.well-known/jwks.json", Scheme: loadgen.SchemeNone,
		Concurrency: cfg.Concurrency, Duration: cfg.Duration}); err != nil {
		return err
	}
	f.JWKS = rateOf(res)
	caller, err := introspector(ctx, conn, admin)
	if err != nil {
		return err
	}
	tok, err := (&clientcredentials.Config{ClientID: g.ClientID(0), ClientSecret: g.ClientSecret(0), TokenURL: base + "/oauth2/token",
		AuthStyle: oauth2.AuthStyleInHeader}).Token(ctx)
	if err != nil {
		return fmt.Errorf("scalerun: a token to introspect: %w", err)
	}
	cfg.step("%d: introspection", n)
	if res, err = loadgen.RunIntrospect(ctx, loadgen.IntrospectConfig{URL: base + "/oauth2/introspect", Caller: caller, Token: tok.AccessToken,
		Concurrency: cfg.Concurrency, Duration: cfg.Duration}); err != nil {
		return err
	}
	f.Introspect = rateOf(res)
	return nil
}

func adminKey(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, app.CredentialsFile)) //nolint:gosec // the run's own temporary data directory
	if err != nil {
		return "", fmt.Errorf("scalerun: admin credentials: %w", err)
	}
	var c app.Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("scalerun: admin credentials: %w", err)
	}
	if c.APIKey == "" {
		return "", errors.New("scalerun: admin credentials: no API key")
	}
	return c.APIKey, nil
}

// snapshot starts a validator's follower of the list over gRPC, as a
// resource service outside Gatehouse would (without NATS), and measures
// its first snapshot: the time to ready, and the heap it holds after a
// collection.
func snapshot(ctx context.Context, conn *grpc.ClientConn, admin string) (Snapshot, error) {
	src := revlist.ClientSource(revocationv1.NewRevocationServiceClient(conn), grpc.PerRPCCredentials(apiKeyAuth(admin)))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fl := revlist.NewFollower(src, nil, revlist.WithResyncInterval(5*time.Minute), revlist.WithLogger(slog.New(slog.DiscardHandler)))
	began := time.Now()
	if err := fl.Start(ctx); err != nil {
		return Snapshot{}, fmt.Errorf("scalerun: start a follower: %w", err)
	}
	defer fl.Close()
	wctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := fl.WaitReady(wctx); err != nil {
		return Snapshot{}, fmt.Errorf("scalerun: a new validator's snapshot: %w", err)
	}
	took := time.Since(began)
	runtime.GC()
	runtime.ReadMemStats(&after)
	s := Snapshot{Took: took, Entries: fl.Stats().Entries, HeapBytes: int64(after.HeapAlloc) - int64(before.HeapAlloc)} //nolint:gosec // heap sizes fit an int64
	runtime.KeepAlive(fl)
	return s, nil
}

// introspector registers, through the admin API, a client allowed to
// introspect every token.
func introspector(ctx context.Context, conn *grpc.ClientConn, admin string) (loadgen.ClientCredentials, error) {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "ApiKey "+admin)
	resp, err := clientsv1.NewClientRegistryServiceClient(conn).CreateClient(ctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
		Name: "scale introspector", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"gatehouse:introspect.all"},
	}})
	if err != nil {
		return loadgen.ClientCredentials{}, fmt.Errorf("scalerun: register the introspecting client: %w", err)
	}
	return loadgen.ClientCredentials{ID: resp.GetClient().GetClientId(), Secret: resp.GetClientSecret()}, nil
}

// sizes reads the database's size and its largest tables'.
func sizes(ctx context.Context, pool *pgxpool.Pool) (int64, []Table, error) {
	var total int64
	if err := pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&total); err != nil {
		return 0, nil, fmt.Errorf("scalerun: database size: %w", err)
	}
	rows, err := pool.Query(ctx, `
		SELECT c.relname, pg_total_relation_size(c.oid), pg_indexes_size(c.oid)
		FROM pg_class c
		WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
		ORDER BY 2 DESC, 1
		LIMIT 8`)
	if err != nil {
		return 0, nil, fmt.Errorf("scalerun: table sizes: %w", err)
	}
	defer rows.Close()
	var out []Table
	for rows.Next() {
		var t Table
		if err := rows.Scan(&t.Name, &t.Bytes, &t.IndexBytes); err != nil {
			return 0, nil, fmt.Errorf("scalerun: table sizes: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("scalerun: table sizes: %w", err)
	}
	return total, out, nil
}
