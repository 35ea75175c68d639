package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Bounds and defaults of a soak run.
const (
	// MaxSoakDuration bounds a soak: it is a test, not a service.
	MaxSoakDuration = 30 * time.Minute
	// MaxSoakConcurrency bounds the workers, so that a typo cannot open
	// thousands of connections.
	MaxSoakConcurrency = 256

	defaultSoakConcurrency = 8
	defaultRevocationBound = 2 * time.Second
	defaultSettle          = 2 * time.Second
	defaultSampleEvery     = 5 * time.Second
	defaultWarmup          = 5 * time.Second
	defaultRequestTimeout  = 10 * time.Second

	// tokenRing is how many recently issued access tokens the validation
	// operations cycle through: enough to mix cache hits and misses in
	// the validators, few enough to stay fresh.
	tokenRing = 32
	// maxRechecks bounds the revoked tokens kept for the check at the
	// end of the run.
	maxRechecks = 200
	// holderAddrs is how many loopback source addresses the holders of
	// revoked tokens use (127.0.0.2 and up); see newHolders.
	holderAddrs = 250
	// pollEvery is the pause between two checks of a revoked token.
	pollEvery = 20 * time.Millisecond
)

// Op is one kind of operation of the soak mix.
type Op int

// The operations of the mix.
const (
	// OpToken is a client_credentials token request with
	// client_secret_basic.
	OpToken Op = iota
	// OpREST is GET /v1/inventory/items with a bearer token.
	OpREST
	// OpGRPC is InventoryService/ListItems with a bearer token.
	OpGRPC
	// OpAPIKey is GET /v1/inventory/items with an API key.
	OpAPIKey
	// OpRevoke issues a token, revokes it (RFC 7009) and checks that the
	// API refuses it within the revocation bound.
	OpRevoke
	// OpRefresh is a refresh_token grant.
	OpRefresh
	numOps
)

var opNames = [numOps]string{"token", "rest", "grpc", "apikey", "revoke", "refresh"}

func (o Op) String() string {
	if o < 0 || o >= numOps {
		return fmt.Sprintf("op(%d)", int(o))
	}
	return opNames[o]
}

// Ops lists every operation, in table order.
func Ops() []Op {
	out := make([]Op, numOps)
	for i := range out {
		out[i] = Op(i)
	}
	return out
}

// Mix weighs the operations: each runs in proportion to its weight. An
// operation without what it needs (no API key, no refresh token) gets
// weight 0 whatever is set here.
type Mix struct {
	Token, REST, GRPC, APIKey, Revoke, Refresh int
}

// DefaultMix is mostly validation, as in production, with enough token
// issuance, revocation and refresh to keep the database in the path.
var DefaultMix = Mix{Token: 20, REST: 30, GRPC: 25, APIKey: 15, Revoke: 5, Refresh: 5}

func (m Mix) weights() [numOps]int {
	return [numOps]int{m.Token, m.REST, m.GRPC, m.APIKey, m.Revoke, m.Refresh}
}

// SoakConfig configures RunSoak. Every address must be on this machine.
type SoakConfig struct {
	// BaseURL is Gatehouse's HTTP address, e.g. http://127.0.0.1:8080.
	BaseURL string
	// GRPCAddr is its plain gRPC address, e.g. 127.0.0.1:9090.
	GRPCAddr string
	// ClientID and ClientSecret are a client registered for
	// client_credentials with client_secret_basic, allowed the scope of
	// the inventory API.
	ClientID, ClientSecret string
	// Scope is requested with every token; empty asks for the client's
	// registered scopes.
	Scope string
	// APIKey is a key for the inventory API; empty leaves API-key calls
	// out of the mix.
	APIKey string
	// RefreshTokens are refresh tokens of RefreshClientID; none leaves
	// refreshes out. A confidential client (with RefreshClientSecret)
	// suits a soak best: its refresh tokens are not rotated, so a request
	// lost in an outage can be retried. A public client's rotated token
	// replaces the old one after each success.
	RefreshTokens                        []string
	RefreshClientID, RefreshClientSecret string
	// Concurrency is the number of workers (default 8).
	Concurrency int
	// Duration bounds the run (at most MaxSoakDuration). Operations in
	// flight at the end finish, each bounded by RequestTimeout.
	Duration time.Duration
	// Rate caps operations per second over all workers; 0 means as fast
	// as the workers go.
	Rate float64
	// Mix weighs the operations; the zero Mix means DefaultMix.
	Mix Mix
	// RevocationBound is how long after the revocation's 200 the API may
	// still accept the revoked token (default 2 s). What the server
	// promises decides it: with NATS up a revocation is applied in
	// milliseconds; with NATS down, at the next re-sync
	// (--revocation-resync-interval).
	RevocationBound time.Duration
	// Settle is the pause between the end of the load and the last
	// sample of the server's heap and goroutines (default 2 s).
	Settle time.Duration
	// SampleEvery is how often the server's heap and goroutines are
	// sampled during the run (default 5 s).
	SampleEvery time.Duration
	// Warmup is how far into the run the warm sample is taken (default
	// 5 s, at most half the run): by then the caches hold what the load
	// needs and the garbage of the set-up is collected, so it is the
	// heap the end is compared with.
	Warmup time.Duration
	// RequestTimeout bounds each request (default 10 s); a request that
	// takes longer is a transport failure.
	RequestTimeout time.Duration
}

func (c *SoakConfig) defaults() {
	if c.Concurrency == 0 {
		c.Concurrency = defaultSoakConcurrency
	}
	if c.Mix == (Mix{}) {
		c.Mix = DefaultMix
	}
	if c.APIKey == "" {
		c.Mix.APIKey = 0
	}
	if len(c.RefreshTokens) == 0 || c.RefreshClientID == "" {
		c.Mix.Refresh = 0
	}
	if c.RevocationBound == 0 {
		c.RevocationBound = defaultRevocationBound
	}
	if c.Settle == 0 {
		c.Settle = defaultSettle
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = defaultSampleEvery
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = defaultRequestTimeout
	}
	if c.Warmup == 0 {
		c.Warmup = defaultWarmup
	}
	c.Warmup = min(c.Warmup, c.Duration/2)
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
}

func (c *SoakConfig) validate() error {
	var errs []error
	if err := checkLoopbackURL(c.BaseURL); err != nil {
		errs = append(errs, err)
	}
	if err := checkLoopbackAddr(c.GRPCAddr); err != nil {
		errs = append(errs, err)
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		errs = append(errs, errors.New("a client id and secret are required"))
	}
	if c.Duration <= 0 || c.Duration > MaxSoakDuration {
		errs = append(errs, fmt.Errorf("the duration must be in (0, %s]", MaxSoakDuration))
	}
	if c.Concurrency < 1 || c.Concurrency > MaxSoakConcurrency {
		errs = append(errs, fmt.Errorf("the concurrency must be in [1, %d]", MaxSoakConcurrency))
	}
	total := 0
	for _, w := range c.Mix.weights() {
		if w < 0 {
			errs = append(errs, errors.New("mix weights must not be negative"))
			break
		}
		total += w
	}
	if total == 0 {
		errs = append(errs, errors.New("the mix has no operation to run"))
	}
	if c.Rate < 0 || c.RevocationBound < 0 || c.Settle < 0 || c.SampleEvery < 0 || c.RequestTimeout < 0 || c.Warmup < 0 {
		errs = append(errs, errors.New("rate, bound, settle, sample interval, timeout and warm-up must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("loadgen: soak: %w", errors.Join(errs...))
	}
	return nil
}

// checkLoopbackAddr refuses a host:port that is not this machine.
func checkLoopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("gRPC address %q: want <loopback address>:<port>", addr)
	}
	if !loopback.Host(host) {
		return fmt.Errorf("gRPC address %q: %w", addr, ErrNotLoopback)
	}
	return nil
}

// schedule spreads the weighted operations evenly over one cycle (smooth
// weighted round robin), so that any short window of the run sees the
// whole mix, not a block of one operation.
func schedule(m Mix) []Op {
	w := m.weights()
	total := 0
	for _, x := range w {
		total += x
	}
	out := make([]Op, 0, total)
	var current [numOps]int
	for range total {
		best, found := 0, false
		for i := range current {
			if w[i] == 0 {
				continue
			}
			current[i] += w[i]
			if !found || current[i] > current[best] {
				best, found = i, true
			}
		}
		current[best] -= total
		out = append(out, Op(best))
	}
	return out
}

// soak is one run's state.
type soak struct {
	cfg      SoakConfig
	client   *http.Client // the load: one keep-alive pool
	plain    *http.Client // /metrics: no keep-alive, so no idle conn skews the goroutine count
	holders  *holders
	inv      inventoryv1.InventoryServiceClient
	conn     *grpc.ClientConn
	tr       *http.Transport
	basic    string
	tokens   *ring
	refresh  []refreshSlot
	rec      *recorder
	rechecks *reservoir
}

// refreshSlot is one refresh token; the lock keeps one request per token
// in flight, as rotation needs.
type refreshSlot struct {
	mu    sync.Mutex
	token string
}

// RunSoak drives the mix against Gatehouse until cfg.Duration has passed
// or ctx ends, and reports every operation's outcome and latency, when
// each failure happened, and the server's heap and goroutines at the start
// and the end. An error means the run could not start.
func RunSoak(ctx context.Context, cfg SoakConfig) (*SoakResult, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s, err := newSoak(cfg)
	if err != nil {
		return nil, err
	}
	defer s.close()

	// One token before the clock starts: the validation operations need
	// one, and a wrong secret should fail here, not as a table of 401s.
	setupCtx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	tok, o, detail := s.issue(setupCtx)
	cancel()
	if o != OutcomeOK {
		return nil, fmt.Errorf("loadgen: soak: issue a first token: %s: %s", o, detail)
	}
	s.tokens.put(tok)

	res := &SoakResult{Concurrency: cfg.Concurrency, Rate: cfg.Rate, RevocationBound: cfg.RevocationBound, Settle: cfg.Settle}
	res.StartSample = s.sample(ctx)
	res.Start = time.Now()
	s.rec = newRecorder(res.Start)
	res.Samples = append(res.Samples, res.StartSample)

	runCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	var limiter *rate.Limiter
	if cfg.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate/10)))
	}
	plan := schedule(cfg.Mix)
	var (
		seq     atomic.Int64
		workers sync.WaitGroup
		sampler sync.WaitGroup
		mu      sync.Mutex
	)
	sampler.Go(func() {
		warm := time.NewTimer(cfg.Warmup)
		defer warm.Stop()
		t := time.NewTicker(cfg.SampleEvery)
		defer t.Stop()
		for {
			var smp MetricsSample
			select {
			case <-runCtx.Done():
				return
			case <-warm.C:
				smp = s.sample(ctx)
				mu.Lock()
				res.WarmSample = smp
				mu.Unlock()
			case <-t.C:
				smp = s.sample(ctx)
			}
			mu.Lock()
			res.Samples = append(res.Samples, smp)
			mu.Unlock()
		}
	})
	for range cfg.Concurrency {
		workers.Go(func() {
			for runCtx.Err() == nil {
				if limiter != nil && limiter.Wait(runCtx) != nil {
					return
				}
				n := seq.Add(1)
				// In-flight operations finish after the run's end: they
				// take the caller's ctx, bounded per request.
				s.run(ctx, plan[int(n%int64(len(plan)))], n)
			}
		})
	}
	workers.Wait()
	stop()
	sampler.Wait()
	res.Elapsed = time.Since(res.Start)

	s.recheck(ctx, res)
	// Close our connections first, so that the end sample counts the
	// server's own goroutines, not those serving us.
	s.closeConns()
	if cfg.Settle > 0 {
		t := time.NewTimer(cfg.Settle)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	res.EndSample = s.sample(ctx)
	res.Samples = append(res.Samples, res.EndSample)
	s.rec.finish(res)
	return res, nil
}

func newSoak(cfg SoakConfig) (*soak, error) {
	tr := newLoopbackTransport(cfg.Concurrency)
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	plainTr := newLoopbackTransport(1)
	plainTr.DisableKeepAlives = true
	s := &soak{
		cfg:      cfg,
		tr:       tr,
		client:   &http.Client{Transport: tr, Timeout: cfg.RequestTimeout, CheckRedirect: noRedirect},
		plain:    &http.Client{Transport: plainTr, Timeout: cfg.RequestTimeout, CheckRedirect: noRedirect},
		basic:    basicAuth(cfg.ClientID, cfg.ClientSecret),
		tokens:   &ring{},
		rechecks: newReservoir(maxRechecks),
	}
	s.holders = newHolders(cfg.BaseURL, cfg.RequestTimeout, s.client)
	for _, rt := range cfg.RefreshTokens {
		s.refresh = append(s.refresh, refreshSlot{token: rt})
	}
	// The loopback transport's dialer refuses any address off the
	// machine at dial time, for gRPC as for HTTP.
	dial := func(ctx context.Context, addr string) (net.Conn, error) { return tr.DialContext(ctx, "tcp", addr) }
	conn, err := grpc.NewClient("passthrough:///"+cfg.GRPCAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial))
	if err != nil {
		return nil, fmt.Errorf("loadgen: soak: gRPC client for %s: %w", cfg.GRPCAddr, err)
	}
	s.conn = conn
	s.inv = inventoryv1.NewInventoryServiceClient(conn)
	return s, nil
}

func (s *soak) closeConns() {
	s.tr.CloseIdleConnections()
	s.holders.closeIdle()
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

func (s *soak) close() { s.closeConns() }

// ring holds the last access tokens issued, for the validation operations.
type ring struct {
	mu   sync.Mutex
	toks [tokenRing]string
	n    int
}

func (r *ring) put(tok string) {
	r.mu.Lock()
	r.toks[r.n%tokenRing] = tok
	r.n++
	r.mu.Unlock()
}

func (r *ring) get(i int64) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	filled := min(r.n, tokenRing)
	return r.toks[int(i%int64(filled))]
}

// reservoir keeps a uniform sample of the revoked tokens of the whole
// run, so that the end check covers the outage windows too.
type reservoir struct {
	mu   sync.Mutex
	seen int
	keep []string
}

func newReservoir(n int) *reservoir { return &reservoir{keep: make([]string, 0, n)} }

func (r *reservoir) add(tok string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen++
	if len(r.keep) < cap(r.keep) {
		r.keep = append(r.keep, tok)
		return
	}
	if i := rand.IntN(r.seen); i < len(r.keep) { //nolint:gosec // sampling, not a secret
		r.keep[i] = tok
	}
}

func (r *reservoir) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.keep...)
}
