package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// stubGatehouse plays the endpoints the soak uses: the token endpoint
// (client_credentials and refresh_token), RFC 7009 revocation, the
// inventory API over REST and gRPC, and /metrics.
type stubGatehouse struct {
	inventoryv1.UnimplementedInventoryServiceServer

	id, secret, apiKey   string
	refreshID, refreshRT string

	// honourRevocations makes revoked tokens refused; off, they are
	// accepted for ever (a lost revocation).
	honourRevocations bool
	// down makes every endpoint but /metrics answer 503 (gRPC
	// Unavailable).
	down atomic.Bool

	n          atomic.Int64
	mu         sync.Mutex
	revoked    map[string]bool
	checkAddrs map[string]bool // source addresses of requests with a revoked token
	seen       map[string]int  // requests per path (and "grpc")
}

func newStubGatehouse() *stubGatehouse {
	return &stubGatehouse{
		id: "c_soak", secret: "s:e%c+r&e=t", apiKey: "gth_stub_key",
		refreshID: "c_app", refreshRT: "rt-1",
		honourRevocations: true,
		revoked:           map[string]bool{}, checkAddrs: map[string]bool{}, seen: map[string]int{},
	}
}

func (g *stubGatehouse) count(what string) {
	g.mu.Lock()
	g.seen[what]++
	g.mu.Unlock()
}

func (g *stubGatehouse) clientOK(r *http.Request, id, secret string) bool {
	u, p, ok := r.BasicAuth()
	u, _ = url.QueryUnescape(u)
	p, _ = url.QueryUnescape(p)
	return ok && u == id && p == secret
}

// tokenValid says whether a bearer token is ours and not revoked.
func (g *stubGatehouse) tokenValid(tok string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.HasPrefix(tok, "at-") && (!g.honourRevocations || !g.revoked[tok])
}

func (g *stubGatehouse) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.count(r.URL.Path)
	if r.URL.Path == "/metrics" {
		_, _ = io.WriteString(w, "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_memstats_heap_alloc_bytes 1.048576e+07\ngo_memstats_next_gc_bytes 2.097152e+07\ngo_memstats_heap_alloc_bytes_total 1\n")
		return
	}
	if g.down.Load() {
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	_ = r.ParseForm()
	switch r.URL.Path {
	case "/oauth2/token":
		switch r.PostForm.Get("grant_type") {
		case "client_credentials":
			if !g.clientOK(r, g.id, g.secret) {
				http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
				return
			}
			fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","expires_in":600}`, g.n.Add(1))
		case "refresh_token":
			if !g.clientOK(r, g.refreshID, "rs") || r.PostForm.Get("refresh_token") != g.refreshRT {
				http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, `{"access_token":"at-r%d","token_type":"Bearer","expires_in":600}`, g.n.Add(1))
		default:
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		}
	case "/oauth2/revoke":
		if !g.clientOK(r, g.id, g.secret) {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		g.mu.Lock()
		g.revoked[r.PostForm.Get("token")] = true
		g.mu.Unlock()
	case "/v1/inventory/items":
		authz := r.Header.Get("Authorization")
		if tok, ok := strings.CutPrefix(authz, "Bearer "); ok {
			g.mu.Lock()
			if g.revoked[tok] {
				host, _, _ := net.SplitHostPort(r.RemoteAddr)
				g.checkAddrs[host] = true
			}
			g.mu.Unlock()
		}
		if authz == "ApiKey "+g.apiKey || g.tokenValid(strings.TrimPrefix(authz, "Bearer ")) {
			_, _ = io.WriteString(w, `{"items":[]}`)
			return
		}
		http.Error(w, `{"code":16,"message":"invalid token"}`, http.StatusUnauthorized)
	default:
		http.NotFound(w, r)
	}
}

func (g *stubGatehouse) ListItems(ctx context.Context, _ *inventoryv1.ListItemsRequest) (*inventoryv1.ListItemsResponse, error) {
	g.count("grpc")
	if g.down.Load() {
		return nil, status.Error(codes.Unavailable, "store unavailable")
	}
	authz := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(authz) != 1 || !g.tokenValid(strings.TrimPrefix(authz[0], "Bearer ")) {
		return nil, status.Error(codes.Unauthenticated, "invalid token")
	}
	return &inventoryv1.ListItemsResponse{}, nil
}

// serve starts the stub's HTTP and gRPC servers on loopback.
func (g *stubGatehouse) serve(t *testing.T) (baseURL, grpcAddr string) {
	t.Helper()
	hs := httptest.NewServer(g)
	t.Cleanup(hs.Close)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	inventoryv1.RegisterInventoryServiceServer(gs, g)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return hs.URL, lis.Addr().String()
}

func (g *stubGatehouse) config(base, grpcAddr string) SoakConfig {
	return SoakConfig{
		BaseURL: base, GRPCAddr: grpcAddr, ClientID: g.id, ClientSecret: g.secret, APIKey: g.apiKey,
		RefreshClientID: g.refreshID, RefreshClientSecret: "rs", RefreshTokens: []string{g.refreshRT},
		Concurrency: 4, Duration: 1500 * time.Millisecond, Settle: 10 * time.Millisecond,
		SampleEvery: 500 * time.Millisecond, RevocationBound: 300 * time.Millisecond,
	}
}

func TestRunSoakRunsTheMix(t *testing.T) {
	g := newStubGatehouse()
	base, addr := g.serve(t)
	start := time.Now()
	res, err := RunSoak(context.Background(), g.config(base, addr))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("a 1.5 s soak took %s", took)
	}
	t.Log("\n" + res.String())
	for _, op := range Ops() {
		s := res.Ops[op]
		if s.Total() == 0 || s.Counts[OutcomeOK] != s.Total() {
			t.Errorf("%s: %+v, want only successes", op, s.Counts)
		}
		if s.P50 <= 0 || s.P99 < s.P50 || s.Max < s.P99 {
			t.Errorf("%s: latencies p50 %s p99 %s max %s", op, s.P50, s.P99, s.Max)
		}
	}
	if len(res.Failures) != 0 {
		t.Errorf("failures: %+v", res.Failures)
	}
	// The weights hold: validation outnumbers revocation about 6 to 1.
	if rest, rev := res.Ops[OpREST].Total(), res.Ops[OpRevoke].Total(); rest < 3*rev {
		t.Errorf("rest %d, revoke %d: the mix is not applied", rest, rev)
	}
	v := res.Revocations
	if v.Checked != res.Ops[OpRevoke].Total() || v.Lost != 0 || v.Rechecked == 0 || v.RecheckAccepted != 0 {
		t.Errorf("revocations %+v", v)
	}
	if res.StartSample.Err != "" || res.StartSample.Goroutines != 42 || res.StartSample.HeapAlloc != 10<<20 ||
		res.WarmSample.Goroutines != 42 || res.EndSample.NextGC != 20<<20 || len(res.Samples) < 4 {
		t.Errorf("samples: start %+v, warm %+v, end %+v, %d in all", res.StartSample, res.WarmSample, res.EndSample, len(res.Samples))
	}
	// The warm sample comes after the warm-up, at most half the run.
	if w := res.WarmSample.At.Sub(res.Start); w < 700*time.Millisecond || w > 5*time.Second {
		t.Errorf("warm sample %s into a 1.5 s run", w)
	}
	// The checks of revoked tokens come from holder addresses, not the
	// load's own.
	g.mu.Lock()
	addrs := len(g.checkAddrs)
	own := g.checkAddrs["127.0.0.1"]
	g.mu.Unlock()
	if addrs < 2 || own {
		t.Errorf("revoked tokens checked from %d addresses (127.0.0.1 among them: %v)", addrs, own)
	}
	for _, want := range []string{"operation", "token", "rest", "grpc", "apikey", "revoke", "refresh", "p99", "lost", "goroutines 42 at the start -> 42 at the end", "10.0 MiB after the warm-up"} {
		if !strings.Contains(res.String(), want) {
			t.Errorf("the summary lacks %q", want)
		}
	}
}

func TestRunSoakTimesFailures(t *testing.T) {
	g := newStubGatehouse()
	base, addr := g.serve(t)
	cfg := g.config(base, addr)
	cfg.Duration = 3 * time.Second
	var downAt, upAt time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(600 * time.Millisecond)
		downAt = time.Now()
		g.down.Store(true)
		time.Sleep(400 * time.Millisecond)
		g.down.Store(false)
		upAt = time.Now()
	}()
	res, err := RunSoak(context.Background(), cfg)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + res.String())
	if len(res.Failures) == 0 {
		t.Fatal("no failure recorded during the outage")
	}
	for _, f := range res.Failures {
		if f.Outcome != OutcomeUnavailable {
			t.Errorf("%s failed with %s (%s), want 503/Unavailable", f.Op, f.Outcome, f.Detail)
		}
		// A revocation's check may run past the outage by its bound.
		if f.At.Before(downAt) || f.At.After(upAt.Add(cfg.RevocationBound+time.Second)) {
			t.Errorf("%s failed at %s, outside the outage %s..%s", f.Op, f.At.Sub(res.Start), downAt.Sub(res.Start), upAt.Sub(res.Start))
		}
		if f.Began.After(f.At) || f.Detail == "" {
			t.Errorf("failure %+v", f)
		}
	}
	// The per-second counts agree with the table.
	for _, op := range Ops() {
		for _, o := range Outcomes() {
			if got := res.Count(op, o, res.Start, res.Start.Add(time.Hour)); got != res.Ops[op].Counts[o] {
				t.Errorf("%s %s: %d in the seconds, %d in the table", op, o, got, res.Ops[op].Counts[o])
			}
		}
	}
	// The last second (the outage ended at 1 s) has successes again.
	if res.Count(OpREST, OutcomeOK, res.Start.Add(2*time.Second), res.Start.Add(time.Hour)) == 0 {
		t.Error("no REST success after the outage")
	}
	groups := res.FailureGroups()
	if len(groups) == 0 || groups[0].Count == 0 || groups[0].First.After(groups[0].Last) {
		t.Errorf("groups %+v", groups)
	}
}

func TestRunSoakCountsLostRevocations(t *testing.T) {
	g := newStubGatehouse()
	g.honourRevocations = false
	base, addr := g.serve(t)
	cfg := g.config(base, addr)
	cfg.Mix = Mix{REST: 1, Revoke: 1}
	cfg.RevocationBound = 50 * time.Millisecond
	cfg.Duration = 500 * time.Millisecond
	res, err := RunSoak(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := res.Revocations
	if v.Lost == 0 || v.Lost != res.Ops[OpRevoke].Counts[OutcomeLost] || v.Lost != v.Checked || v.RecheckAccepted != v.Rechecked || v.Rechecked == 0 {
		t.Fatalf("revocations %+v, revoke row %+v", v, res.Ops[OpRevoke].Counts)
	}
	if !strings.Contains(res.Failures[0].Detail, "accepted by the API") {
		t.Errorf("detail %q", res.Failures[0].Detail)
	}
}

func TestRunSoakLeavesOutWhatItLacks(t *testing.T) {
	g := newStubGatehouse()
	base, addr := g.serve(t)
	cfg := g.config(base, addr)
	cfg.APIKey, cfg.RefreshTokens = "", nil
	cfg.Duration = 300 * time.Millisecond
	res, err := RunSoak(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops[OpAPIKey].Total() != 0 || res.Ops[OpRefresh].Total() != 0 || res.Ops[OpREST].Total() == 0 {
		t.Fatalf("apikey %d, refresh %d, rest %d", res.Ops[OpAPIKey].Total(), res.Ops[OpRefresh].Total(), res.Ops[OpREST].Total())
	}
}

func TestRunSoakRefusesAWrongSecretAtOnce(t *testing.T) {
	g := newStubGatehouse()
	base, addr := g.serve(t)
	cfg := g.config(base, addr)
	cfg.ClientSecret = "wrong"
	cfg.Duration = time.Minute
	start := time.Now()
	if _, err := RunSoak(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "401/403") {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("a wrong secret ran the soak")
	}
}

func TestRunSoakRefuses(t *testing.T) {
	ok := SoakConfig{BaseURL: "http://127.0.0.1:1", GRPCAddr: "127.0.0.1:2", ClientID: "c", ClientSecret: "s", Duration: time.Second}
	tests := []struct {
		name     string
		edit     func(c *SoakConfig)
		loopback bool
	}{
		{"a public base URL", func(c *SoakConfig) { c.BaseURL = "https://auth.example.com" }, true},
		{"a private gRPC address", func(c *SoakConfig) { c.GRPCAddr = "10.0.0.1:9090" }, true},
		{"a gRPC name that is not localhost", func(c *SoakConfig) { c.GRPCAddr = "gatehouse:9090" }, true},
		{"a gRPC address without a port", func(c *SoakConfig) { c.GRPCAddr = "127.0.0.1" }, false},
		{"no secret", func(c *SoakConfig) { c.ClientSecret = "" }, false},
		{"no duration", func(c *SoakConfig) { c.Duration = 0 }, false},
		{"too long", func(c *SoakConfig) { c.Duration = MaxSoakDuration + time.Second }, false},
		{"too many workers", func(c *SoakConfig) { c.Concurrency = MaxSoakConcurrency + 1 }, false},
		{"a negative weight", func(c *SoakConfig) { c.Mix = Mix{Token: 1, REST: -1} }, false},
		{"a negative rate", func(c *SoakConfig) { c.Rate = -1 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			_, err := RunSoak(context.Background(), c)
			if err == nil {
				t.Fatal("accepted")
			}
			if errors.Is(err, ErrNotLoopback) != tc.loopback {
				t.Errorf("err %v: ErrNotLoopback %v, want %v", err, errors.Is(err, ErrNotLoopback), tc.loopback)
			}
		})
	}
}

func TestSchedule(t *testing.T) {
	tests := []struct {
		name string
		mix  Mix
	}{
		{"default", DefaultMix},
		{"one op", Mix{GRPC: 3}},
		{"uneven", Mix{Token: 1, REST: 7, Revoke: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := schedule(tc.mix)
			w := tc.mix.weights()
			var got [numOps]int
			for _, op := range plan {
				got[op]++
			}
			if got != w {
				t.Fatalf("counts %v, want the weights %v", got, w)
			}
			// Spread: an op of weight w out of n never waits much more
			// than n/w slots for its next turn.
			for op, weight := range w {
				if weight == 0 {
					continue
				}
				last := -1
				for i, o := range append(plan, plan...) {
					if int(o) != op {
						continue
					}
					if last >= 0 && i-last > 2*len(plan)/weight+1 {
						t.Errorf("%s: a gap of %d slots in a plan of %d", Op(op), i-last, len(plan))
					}
					last = i
				}
			}
		})
	}
}

func TestClassify(t *testing.T) {
	httpCases := []struct {
		code int
		err  error
		want Outcome
	}{
		{200, nil, OutcomeOK},
		{401, nil, OutcomeAuth},
		{403, nil, OutcomeAuth},
		{429, nil, OutcomeRateLimited},
		{503, nil, OutcomeUnavailable},
		{500, nil, OutcomeServerError},
		{502, nil, OutcomeServerError},
		{400, nil, OutcomeOther},
		{404, nil, OutcomeOther},
		{204, nil, OutcomeOther},
		{0, errors.New("connection refused"), OutcomeTransport},
	}
	for _, tc := range httpCases {
		if got := classifyHTTP(tc.code, tc.err); got != tc.want {
			t.Errorf("HTTP %d %v: %s, want %s", tc.code, tc.err, got, tc.want)
		}
	}
	grpcCases := []struct {
		err  error
		want Outcome
	}{
		{nil, OutcomeOK},
		{status.Error(codes.Unauthenticated, "x"), OutcomeAuth},
		{status.Error(codes.PermissionDenied, "x"), OutcomeAuth},
		{status.Error(codes.ResourceExhausted, "x"), OutcomeRateLimited},
		{status.Error(codes.Unavailable, "the revocation list is stale"), OutcomeUnavailable},
		{status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`), OutcomeTransport},
		{status.Error(codes.Unavailable, "error reading from server: EOF"), OutcomeTransport},
		{status.Error(codes.DeadlineExceeded, "x"), OutcomeTransport},
		{status.Error(codes.Internal, "x"), OutcomeServerError},
		{status.Error(codes.Unknown, "x"), OutcomeServerError},
		{status.Error(codes.InvalidArgument, "x"), OutcomeOther},
	}
	for _, tc := range grpcCases {
		if got := classifyGRPC(tc.err); got != tc.want {
			t.Errorf("gRPC %v: %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []float64
		wantErr bool
	}{
		{"plain", "go_goroutines 12\ngo_memstats_heap_alloc_bytes 3.5e+06\n", []float64{12, 3.5e6}, false},
		{"comments, other series and a timestamp", "# TYPE go_goroutines gauge\ngo_goroutines_total 1\ngo_goroutines 7 1700000000000\nx{a=\"go_goroutines\"} 1\ngo_memstats_heap_alloc_bytes 1\n", []float64{7, 1}, false},
		{"missing", "go_goroutines 12\n", nil, true},
		{"garbage value", "go_goroutines twelve\ngo_memstats_heap_alloc_bytes 1\n", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMetrics([]byte(tc.body), "go_goroutines", "go_memstats_heap_alloc_bytes")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && (got[0] != tc.want[0] || got[1] != tc.want[1]) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
