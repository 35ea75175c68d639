package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/faultproxy"
	"github.com/gatehouse-dev/gatehouse/internal/loadgen"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"golang.org/x/oauth2"
)

// Soak settings. The fault times are for a 60 s run and scale with the
// duration; the outages themselves keep their length.
const (
	soakDurationEnv = "GATEHOUSE_SOAK_DURATION"
	soakMinDuration = 30 * time.Second

	pgOutage     = 5 * time.Second
	natsDowntime = 3 * time.Second
	// recoveryAllowance is how soon after a dependency returns Gatehouse
	// must serve again, without a restart: no failure may be seen later.
	recoveryAllowance = 5 * time.Second
	// resyncInterval is the server's --revocation-resync-interval: while
	// NATS is down, revocations reach the validators at the next re-sync.
	resyncInterval = time.Second
	// apiKeyCacheTTL is the server's --apikey-cache-ttl.
	apiKeyCacheTTL = 2 * time.Second
	// revocationBound is what the soak allows between a revocation's 200
	// and the API refusing the token: one re-sync interval (the server's
	// promise with NATS down) and 2 s for the re-sync itself on a loaded
	// machine.
	revocationBound = resyncInterval + 2*time.Second

	// Server health after the load. Goroutines are compared with the
	// count before the load: the REST gateway dials its in-process gRPC
	// connections on first use (about 20 goroutines, once), and nothing
	// else may stay; a leak per operation or per connection would be
	// hundreds. The heap is compared with the sample after the warm-up
	// (the start holds the set-up's garbage, the argon2id sign-in above
	// all): no collection can be forced from outside, and between two
	// the heap swings up to twice what is live (GOGC=100), so the end
	// may be twice the warm heap, plus room for the revocation list and
	// the caches the run filled; a leak of a few KiB per operation would
	// pass that in a 60 s run.
	goroutineSlack = 50
	heapSlack      = 32 << 20
)

// window is one fault as it happened.
type window struct {
	name       string
	start, end time.Time
}

// TestSoakUnderFaults runs the mixed workload of `gatehouse bench soak`
// against the real binary on PostgreSQL and a NATS server this test owns,
// and during it cuts PostgreSQL off (every connection dropped, new ones
// refused: a PostgreSQL restart as Gatehouse sees it, simulated by a TCP
// proxy because the machine's PostgreSQL is shared) and restarts NATS for
// real. Gatehouse must answer only 503 or 429 while a dependency is away,
// serve again within 5 s of its return without a restart, lose no
// revocation, and end with its heap and goroutines near where they began.
//
// It is a separate CI step: GATEHOUSE_SOAK_DURATION=60s (make soak).
func TestSoakUnderFaults(t *testing.T) {
	raw := os.Getenv(soakDurationEnv)
	if raw == "" {
		t.Skipf("the soak runs only when %s is set (a Go duration, at least %s): run `make soak` (SOAK_DURATION=60s by default)", soakDurationEnv, soakMinDuration)
	}
	duration, err := time.ParseDuration(raw)
	if err != nil || duration < soakMinDuration || duration > loadgen.MaxSoakDuration {
		t.Fatalf("%s=%q: want a duration in [%s, %s]", soakDurationEnv, raw, soakMinDuration, loadgen.MaxSoakDuration)
	}
	dbURL, pgAddr := soakPostgres(t)

	proxy, err := faultproxy.New(pgAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	proxied, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxied.Host = proxy.Addr()

	nats := startSoakNATS(t)
	s := start(t, t.TempDir(), "--example-inventory",
		"--database-url", proxied.String(), "--nats-url", nats.url(),
		"--revocation-resync-interval", resyncInterval.String(),
		// API-key verifications expire within the outage, so that the
		// API-key calls of the mix need the registry (and the database)
		// during it, as they would in a longer one.
		"--apikey-cache-ttl", apiKeyCacheTTL.String())
	cfg, cold := setupSoak(t, s)
	cfg.Duration = duration

	pgAt := duration * 15 / 60
	natsAt := duration * 35 / 60
	t.Logf("soak %s: warm-up, PostgreSQL outage (simulated by the proxy: every connection dropped, new ones refused) of %s at %s, NATS restart (down %s) at %s",
		duration, pgOutage, pgAt, natsDowntime, natsAt)

	ctx, cancel := context.WithTimeout(context.Background(), duration+5*time.Minute)
	defer cancel()
	var (
		windows                 []window
		faults                  sync.WaitGroup
		coldDuring, coldAfter   int
		coldDuringD, coldAfterD string
	)
	begin := time.Now()
	faults.Go(func() {
		if !sleepUntil(ctx, begin.Add(pgAt)) {
			return
		}
		w := window{name: "PostgreSQL outage (proxy)", start: time.Now()}
		proxy.Down()
		// The mix's own clients are verified from caches; a client
		// nothing has verified yet needs the registry, so the database.
		sleepUntil(ctx, w.start.Add(time.Second))
		coldDuring, coldDuringD = coldToken(t, s, cold)
		sleepUntil(ctx, w.start.Add(pgOutage))
		proxy.Up()
		w.end = time.Now()
		windows = append(windows, w)
		sleepUntil(ctx, w.end.Add(recoveryAllowance))
		coldAfter, coldAfterD = coldToken(t, s, cold)

		if !sleepUntil(ctx, begin.Add(natsAt)) {
			return
		}
		w = window{name: "NATS restart", start: time.Now()}
		nats.restart(t, ctx, natsDowntime)
		w.end = time.Now()
		windows = append(windows, w)
	})
	res, err := loadgen.RunSoak(ctx, cfg)
	faults.Wait()
	if err != nil {
		t.Fatalf("soak: %v", err)
	}
	t.Log("\n" + res.String())
	for _, w := range windows {
		t.Logf("fault %-26s %6.1fs .. %6.1fs (recovery allowed until %.1fs)", w.name,
			w.start.Sub(res.Start).Seconds(), w.end.Sub(res.Start).Seconds(), w.end.Add(recoveryAllowance).Sub(res.Start).Seconds())
	}
	logSlowSeconds(t, res, time.Second)
	st := proxy.Stats()
	t.Logf("PostgreSQL proxy: %d connections forwarded, %d dropped by the outage, %d refused during it", st.Accepted, st.Dropped, st.Refused)

	t.Logf("token for a client not verified yet: %d %q during the PostgreSQL outage, %d %q after its recovery allowance", coldDuring, coldDuringD, coldAfter, coldAfterD)
	if len(windows) != 2 {
		t.Fatalf("only %d of 2 faults happened", len(windows))
	}
	if coldDuring != http.StatusServiceUnavailable && coldDuring != http.StatusTooManyRequests {
		t.Errorf("token endpoint, client not verified yet, PostgreSQL away: %d %q; want 503 (or 429)", coldDuring, coldDuringD)
	}
	if coldAfter != http.StatusOK {
		t.Errorf("token endpoint, client not verified yet, %s after PostgreSQL returned: %d %q; want 200", recoveryAllowance, coldAfter, coldAfterD)
	}
	checkSoak(t, res, windows, cfg)
	if st.Dropped == 0 || st.Refused == 0 {
		t.Errorf("the PostgreSQL outage touched nothing (%d dropped, %d refused): the soak did not exercise it", st.Dropped, st.Refused)
	}
	if logs := s.logs.String(); !strings.Contains(logs, "nats disconnected") || !strings.Contains(logs, "nats reconnected") {
		t.Error("the server logged no NATS disconnection and reconnection: the restart did not reach it")
	}
	if !ready(s.creds.HTTPAddr) {
		t.Error("the server is not ready after the soak")
	}
	if t.Failed() {
		t.Logf("server warnings and errors:\n%s", warnings(s.logs.String(), 200))
	}
	assertNoSecretsInLogs(t, s.logs.String(), append([]string{cfg.ClientSecret, cfg.APIKey, cfg.RefreshClientSecret}, cfg.RefreshTokens...))
}

// checkSoak asserts what the soak must show.
func checkSoak(t *testing.T, res *loadgen.SoakResult, windows []window, cfg loadgen.SoakConfig) {
	t.Helper()
	// Only 503 and 429, and only while a dependency was away or
	// recovering.
	bad := 0
	for _, f := range res.Failures {
		var why string
		switch {
		case f.Outcome != loadgen.OutcomeUnavailable && f.Outcome != loadgen.OutcomeRateLimited:
			why = "not a 503 or 429"
		case !inWindow(f.At, windows):
			why = "outside every outage and its recovery allowance"
		default:
			continue
		}
		if bad++; bad <= 30 {
			t.Errorf("%s failed at %.2fs with %s (%s): %s", f.Op, f.At.Sub(res.Start).Seconds(), f.Outcome, f.Detail, why)
		}
	}
	if bad > 30 {
		t.Errorf("... %d such failures in all", bad)
	}
	if res.FailuresDropped > 0 {
		t.Errorf("%d failures beyond the list's bound could not be checked", res.FailuresDropped)
	}

	// Recovery is real: after each fault's allowance every operation
	// succeeds again (not merely fails no more).
	for i, w := range windows {
		from := w.end.Add(recoveryAllowance)
		to := res.Start.Add(res.Elapsed)
		if i+1 < len(windows) {
			to = windows[i+1].start
		}
		for _, op := range loadgen.Ops() {
			if res.Ops[op].Total() == 0 {
				continue
			}
			if res.Count(op, loadgen.OutcomeOK, from, to) == 0 {
				t.Errorf("%s: no success between %.1fs and %.1fs, after the %s", op, from.Sub(res.Start).Seconds(), to.Sub(res.Start).Seconds(), w.name)
			}
		}
	}
	for _, op := range []loadgen.Op{loadgen.OpToken, loadgen.OpREST, loadgen.OpGRPC, loadgen.OpAPIKey, loadgen.OpRevoke, loadgen.OpRefresh} {
		if res.Ops[op].Counts[loadgen.OutcomeOK] == 0 {
			t.Errorf("%s never succeeded", op)
		}
	}

	v := res.Revocations
	if v.Lost > 0 || v.RecheckAccepted > 0 {
		t.Errorf("revocations lost: %d accepted more than %s after the revocation's 200, %d of %d accepted again at the end", v.Lost, cfg.RevocationBound, v.RecheckAccepted, v.Rechecked)
	}
	if v.Checked == 0 || v.Rechecked == 0 {
		t.Errorf("no revocation checked (%d) or re-checked (%d)", v.Checked, v.Rechecked)
	}

	start, warm, end := res.StartSample, res.WarmSample, res.EndSample
	if start.Err != "" || warm.Err != "" || end.Err != "" {
		t.Errorf("server samples failed: start %q, warm %q, end %q", start.Err, warm.Err, end.Err)
		return
	}
	if end.Goroutines > start.Goroutines+goroutineSlack {
		t.Errorf("goroutines %d before the load, %d after it and %s: more than %d more", start.Goroutines, end.Goroutines, res.Settle, goroutineSlack)
	}
	if limit := 2*warm.HeapAlloc + heapSlack; end.HeapAlloc > limit {
		t.Errorf("heap %.1f MiB after the warm-up, %.1f MiB at the end: over 2x the warm heap + %d MiB", warm.HeapAlloc/(1<<20), end.HeapAlloc/(1<<20), heapSlack>>20)
	}
}

// logSlowSeconds logs the seconds of the run in which an operation took
// longer than slow, with the slowest of each kind: where the latency
// percentiles hide a stall, this dates it.
func logSlowSeconds(t *testing.T, res *loadgen.SoakResult, slow time.Duration) {
	t.Helper()
	var lines []string
	for i, sec := range res.Seconds {
		var parts []string
		for _, op := range loadgen.Ops() {
			if sec.Max[op] > slow {
				parts = append(parts, fmt.Sprintf("%s %s", op, sec.Max[op].Round(time.Millisecond)))
			}
		}
		if len(parts) > 0 {
			lines = append(lines, fmt.Sprintf("  %3ds: %s", i, strings.Join(parts, ", ")))
		}
	}
	if len(lines) > 0 {
		t.Logf("seconds with an operation slower than %s (slowest of each kind, by when it ended):\n%s", slow, strings.Join(lines, "\n"))
	}
}

// inWindow reports whether at falls in a fault or its recovery allowance.
func inWindow(at time.Time, windows []window) bool {
	for _, w := range windows {
		if !at.Before(w.start) && !at.After(w.end.Add(recoveryAllowance)) {
			return true
		}
	}
	return false
}

// soakPostgres returns the URL of the real PostgreSQL, in a fresh schema
// dropped after the test, and its host:port for the proxy. It skips
// locally when PostgreSQL is absent; under CI it must be there.
func soakPostgres(t *testing.T) (dbURL, hostport string) {
	t.Helper()
	dbURL = dbtest.PostgresURL(t)
	u, err := url.Parse(dbURL)
	if err != nil || u.Host == "" {
		t.Fatalf("GATEHOUSE_TEST_DATABASE_URL: want a postgres:// URL with a host (the proxy needs it)")
	}
	hostport = u.Host
	if u.Port() == "" {
		hostport = net.JoinHostPort(u.Hostname(), "5432")
	}
	return dbURL, hostport
}

// soakNATS is a NATS server with JetStream in the test process, on a fixed
// loopback port and store directory, so that it can be stopped and
// started again as the same server.
type soakNATS struct {
	port  int
	store string
	mu    sync.Mutex
	srv   *natsserver.Server
}

func startSoakNATS(t *testing.T) *soakNATS {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := lis.Addr().(*net.TCPAddr).Port
	_ = lis.Close()
	n := &soakNATS{port: port, store: t.TempDir()}
	srv, err := n.newServer()
	if err != nil {
		t.Fatal(err)
	}
	n.srv = srv
	t.Cleanup(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.srv != nil {
			n.srv.Shutdown()
			n.srv.WaitForShutdown()
		}
	})
	return n
}

func (n *soakNATS) newServer() (*natsserver.Server, error) {
	srv, err := natsserver.NewServer(&natsserver.Options{
		ServerName: "soak",
		Host:       "127.0.0.1",
		Port:       n.port,
		JetStream:  true,
		StoreDir:   n.store,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats server on port %d not ready in 10s", n.port)
	}
	return srv, nil
}

func (n *soakNATS) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// restart shuts the server down, waits down, and starts a new one on the
// same port and store.
func (n *soakNATS) restart(t *testing.T, ctx context.Context, down time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
	sleepUntil(ctx, time.Now().Add(down))
	// The port was just ours: a few retries cover a slow release.
	var err error
	for range 20 {
		var srv *natsserver.Server
		if srv, err = n.newServer(); err == nil {
			n.srv = srv
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("restart NATS: %v", err)
}

// setupSoak registers what the workload needs: a client for
// client_credentials, an API key, and a confidential first-party client
// with refresh tokens from a real sign-in (the login form over HTTP, as a
// native app's embedded flow would post it; no browser needed). cold is a
// client the load never uses.
func setupSoak(t *testing.T, s *server) (_ loadgen.SoakConfig, cold createdClient) {
	t.Helper()
	var m2m createdClient
	s.cliJSON(t, &m2m, "clients", "create", "--name", "Soak", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "inventory:read", "--rate-limit-tier", "internal")
	s.cliJSON(t, &cold, "clients", "create", "--name", "Soak cold", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "inventory:read")
	var key createdKey
	s.cliJSON(t, &key, "apikeys", "create", "--client", m2m.ClientID, "--scopes", "inventory:read")

	const email, password = "soak@example.test", "a soak test passphrase"
	s.createUser(t, email, password)
	var app createdClient
	s.cliJSON(t, &app, "clients", "create", "--name", "Soak app", "--type", "first_party",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", "http://127.0.0.1:1/callback",
		"--scopes", "inventory:read", "--rate-limit-tier", "internal")
	base := "http://" + s.creds.HTTPAddr
	oc := &oauth2.Config{
		ClientID:     app.ClientID,
		ClientSecret: app.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: base + "/oauth2/authorize", TokenURL: base + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL:  "http://127.0.0.1:1/callback",
		Scopes:       []string{"inventory:read"},
	}
	b := newBrowser(t, s, "http://127.0.0.1:1/")
	var refresh []string
	for i := range 4 {
		verifier := oauth2.GenerateVerifier()
		authURL := oc.AuthCodeURL(fmt.Sprintf("soak-%d", i), oauth2.S256ChallengeOption(verifier))
		var back *url.URL
		if i == 0 {
			back = b.signIn(authURL, email, password)
		} else {
			// Signed in: the session answers with the code at once.
			_, loc, _ := b.get(authURL)
			var err error
			if back, err = url.Parse(loc); err != nil {
				t.Fatal(err)
			}
		}
		tok, err := oc.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("exchange %d: %v (refresh token present: %v)", i, err, tok != nil && tok.RefreshToken != "")
		}
		refresh = append(refresh, tok.RefreshToken)
	}
	return loadgen.SoakConfig{
		BaseURL:             base,
		GRPCAddr:            s.creds.GRPCAddr,
		ClientID:            m2m.ClientID,
		ClientSecret:        m2m.ClientSecret,
		Scope:               "inventory:read",
		APIKey:              key.APIKey,
		RefreshClientID:     app.ClientID,
		RefreshClientSecret: app.ClientSecret,
		RefreshTokens:       refresh,
		Concurrency:         8,
		// Leaves the 2 shared cores some room, so that recovery is
		// measured, not the machine's backlog.
		Rate:            400,
		RevocationBound: revocationBound,
		Settle:          3 * time.Second,
	}, cold
}

// coldToken asks for a client_credentials token as c and returns the
// status and the OAuth error, if any.
func coldToken(t *testing.T, s *server, c createdClient) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.creds.HTTPAddr+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

// sleepUntil waits until t; it returns false when ctx ends first.
func sleepUntil(ctx context.Context, at time.Time) bool {
	timer := time.NewTimer(time.Until(at))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// warnings returns the server's last limit log lines at warn or error,
// leaving out the auth failures the revocation checks cause on purpose.
func warnings(logs string, limit int) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, `"event":"auth_failure"`) {
			continue
		}
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return strings.Join(out, "\n")
}
