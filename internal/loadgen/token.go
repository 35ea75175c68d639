package loadgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
)

// TokenConfig configures RunToken.
type TokenConfig struct {
	// URL is the token endpoint, e.g. http://127.0.0.1:8080/oauth2/token;
	// its host must be a loopback address or localhost.
	URL string
	// ClientID and ClientSecret are a client registered for
	// client_credentials with client_secret_basic.
	ClientID, ClientSecret string
	// Clients, when set instead, are used in turn, one per request: with
	// more of them than the token service caches, every request is a
	// verification the cache has not seen.
	Clients []ClientCredentials
	// Concurrency is the number of requests in flight (default 1).
	Concurrency int
	// Duration bounds the run; zero means no time bound (Requests must
	// then be set).
	Duration time.Duration
	// Requests is the number of requests to send; 0 means as many as fit
	// in Duration.
	Requests int
}

// ClientCredentials is one client's client_id and secret.
type ClientCredentials struct{ ID, Secret string }

// basicAuth is the client_secret_basic header: RFC 6749 §2.3.1 form-encodes
// the id and secret, then Base64.
func (c ClientCredentials) basicAuth() string { return basicAuth(c.ID, c.Secret) }

// Result is what a run measured. Requests counts the requests that
// completed (OK + Failed); a request cut short by the end of the run is not
// counted.
type Result struct {
	Requests, OK, Failed int
	// FailedBy counts the failures by what the server answered: "429",
	// "401", ..., or "transport" when no answer came.
	FailedBy map[string]int
	Elapsed  time.Duration
	// P50 and P99 are latency percentiles over the completed requests.
	P50, P99 time.Duration
}

// String reports the run on one line, throughput first.
func (r Result) String() string {
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(r.OK) / r.Elapsed.Seconds()
	}
	return fmt.Sprintf("%.0f ok/s: %d requests in %s (%d ok, %d failed%s); latency p50 %s, p99 %s",
		rate, r.Requests, r.Elapsed.Round(time.Millisecond), r.OK, r.Failed, r.failures(),
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
}

// failures is the breakdown of the failures, most frequent first: a run
// refused with 429 must say so.
func (r Result) failures() string {
	if len(r.FailedBy) == 0 {
		return ""
	}
	kinds := slices.Collect(maps.Keys(r.FailedBy))
	slices.SortFunc(kinds, func(a, b string) int {
		if c := cmp.Compare(r.FailedBy[b], r.FailedBy[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", r.FailedBy[k], k)
	}
	return ": " + strings.Join(parts, ", ")
}

// outcome is one request's: the HTTP status (0 when no answer came) and
// whether it counts as a success.
type outcome struct {
	status int
	ok     bool
}

const tokenBody = "grant_type=client_credentials"

// RunToken drives POST <URL> with the client_credentials grant and
// client_secret_basic over real HTTP with keep-alive, from Concurrency
// workers sharing one http.Client, until Requests are done, Duration has
// passed or ctx ends.
func RunToken(ctx context.Context, cfg TokenConfig) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	creds := cfg.Clients
	if len(creds) == 0 {
		creds = []ClientCredentials{{cfg.ClientID, cfg.ClientSecret}}
	}
	authz := make([]string, len(creds))
	for i, c := range creds {
		authz[i] = c.basicAuth()
	}
	return run(ctx, cfg.Concurrency, cfg.Duration, cfg.Requests, func(ctx context.Context, c *http.Client, n int64) (outcome, error) {
		return tokenRequest(ctx, c, cfg.URL, authz[int((n-1)%int64(len(authz)))])
	}), nil
}

// run drives do from conc workers sharing one keep-alive client until
// requests are done, duration has passed or ctx ends, and measures.
func run(ctx context.Context, conc int, duration time.Duration, requests int, do func(ctx context.Context, c *http.Client, n int64) (outcome, error)) Result {
	conc = max(conc, 1)
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	tr := newLoopbackTransport(conc)
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		Timeout:   30 * time.Second,
		// Never follow a redirect: it could point off the machine.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var (
		issued    atomic.Int64 // request slots taken, for requests
		ok, ko    atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
		failedBy  = map[string]int{}
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range conc {
		wg.Go(func() {
			local := make([]time.Duration, 0, 1024)
			localFailed := map[string]int{}
			for ctx.Err() == nil {
				n := issued.Add(1)
				if requests > 0 && n > int64(requests) {
					break
				}
				t0 := time.Now()
				out, err := do(ctx, client, n)
				if err != nil && ctx.Err() != nil {
					break // cut short by the end of the run: not counted
				}
				local = append(local, time.Since(t0))
				switch {
				case out.ok && err == nil:
					ok.Add(1)
				case out.status == 0:
					ko.Add(1)
					localFailed["transport"]++
				default:
					ko.Add(1)
					localFailed[strconv.Itoa(out.status)]++
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			for k, n := range localFailed {
				failedBy[k] += n
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res := Result{OK: int(ok.Load()), Failed: int(ko.Load()), Elapsed: time.Since(start)}
	if len(failedBy) > 0 {
		res.FailedBy = failedBy
	}
	res.Requests = res.OK + res.Failed
	slices.Sort(latencies)
	res.P50, res.P99 = percentile(latencies, 50), percentile(latencies, 99)
	return res
}

// tokenRequest sends one token request; success means 200 with a body.
func tokenRequest(ctx context.Context, c *http.Client, u, authz string) (outcome, error) {
	code, body, err := send(ctx, c, http.MethodPost, u, authz, tokenBody, maxBody)
	if err != nil {
		return outcome{}, err
	}
	return outcome{status: code, ok: code == http.StatusOK && len(body) > 0}, nil
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

func (c TokenConfig) validate() error {
	var errs []error
	if err := checkLoopbackURL(c.URL); err != nil {
		errs = append(errs, err)
	}
	switch {
	case len(c.Clients) > 0 && (c.ClientID != "" || c.ClientSecret != ""):
		errs = append(errs, errors.New("give one client id and secret, or a list of clients, not both"))
	case len(c.Clients) == 0 && (c.ClientID == "" || c.ClientSecret == ""):
		errs = append(errs, errors.New("a client id and secret are required"))
	}
	for _, cl := range c.Clients {
		if cl.ID == "" || cl.Secret == "" {
			errs = append(errs, errors.New("every client of the list needs an id and a secret"))
			break
		}
	}
	if c.Concurrency < 0 || c.Requests < 0 || c.Duration < 0 {
		errs = append(errs, errors.New("concurrency, requests and duration must not be negative"))
	}
	if c.Requests == 0 && c.Duration == 0 {
		errs = append(errs, errors.New("give a duration or a number of requests"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("loadgen: %w", errors.Join(errs...))
	}
	return nil
}

// ErrNotLoopback refuses a target that is not this machine.
var ErrNotLoopback = errors.New("load may only be sent to a loopback address or localhost")

func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("URL %q: want http(s)://<loopback address>:<port>/<path>", raw)
	}
	if !loopback.Host(u.Hostname()) {
		return fmt.Errorf("URL %q: %w", raw, ErrNotLoopback)
	}
	return nil
}

// newLoopbackTransport keeps one idle connection per worker and refuses, at
// dial time, any address that is not loopback (whatever "localhost"
// resolves to).
func newLoopbackTransport(conns int) *http.Transport {
	d := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil || !isLoopbackIP(host) {
				return fmt.Errorf("dial %s: %w", address, ErrNotLoopback)
			}
			return nil
		},
	}
	return &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
}

// isLoopbackIP reports whether s is a loopback IP literal; no name, not
// even localhost: the load generator binds and dials these addresses.
func isLoopbackIP(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.IsLoopback()
}
