package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/faultproxy"
	"github.com/gatehouse-dev/gatehouse/internal/topology"
	"github.com/jackc/pgx/v5"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// faultsDurationEnv turns the multi-process fault test on: a Go duration,
// the length of the load (make faults sets it).
const faultsDurationEnv = "GATEHOUSE_FAULTS_DURATION"

// faultsPGRestartEnv is a shell command that restarts the PostgreSQL the
// test runs on. CI sets it (its fault step runs alone on the machine); without
// it the fault proxy simulates the restart: every connection dropped, new
// ones refused for 5 s.
const faultsPGRestartEnv = "GATEHOUSE_FAULTS_PG_RESTART"

// The fault test's settings: validators re-sync the revocation list every
// faultResync, so a revocation whose event was lost (a NATS node killed
// under a subscriber) reaches them within that, and staleBound is the
// bound no revoked token may outlive at any validator once the revocation
// was acknowledged. A normal key rotation is published faultKeyLead before
// it signs.
const (
	faultResync   = 2 * time.Second
	staleBound    = faultResync + 3*time.Second
	faultKeyLead  = 3 * time.Second
	faultRate     = 120 // operations per second, all workers together
	faultWorkers  = 6
	faultRecovery = 5 * time.Second
)

// faultOp is one request of the load, as it ended.
type faultOp struct {
	kind   string // token, gateway, grpc
	target string // the process it went to
	at     time.Time
	took   time.Duration
	ok     bool
	code   string // HTTP status or gRPC code, or the transport error
	kid    string // token: the key that signed it
}

// TestSplitTopologyUnderFaults runs the deploy/local topology (three NATS
// nodes, two token services, two gateways, three inventory replicas, one
// of each other service) on PostgreSQL behind a fault proxy, drives
// tokens, inventory calls through both gateways and directly over gRPC, and
// a stream of revocations, and meanwhile kills a NATS node, kills a token
// replica, restarts PostgreSQL (for real when GATEHOUSE_FAULTS_PG_RESTART
// says how, as CI does; else the proxy cuts it off for 5 s: every
// connection dropped, new ones refused) and rotates the signing key. It
// asserts that no request to a live process failed except with 503 or
// Unavailable while PostgreSQL was away, that every acknowledged
// revocation reached every validator and none accepted a revoked token
// after the staleness bound, and that the key rotation failed no
// validation.
func TestSplitTopologyUnderFaults(t *testing.T) {
	raw := os.Getenv(faultsDurationEnv)
	if raw == "" {
		t.Skipf("the multi-process fault test runs when %s is set (a Go duration, 30s to 5m): run `make faults`", faultsDurationEnv)
	}
	duration, err := time.ParseDuration(raw)
	if err != nil || duration < 30*time.Second || duration > 5*time.Minute {
		t.Fatalf("%s=%q: want a duration in [30s, 5m]", faultsDurationEnv, raw)
	}
	dbURL := dbtest.PostgresURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	pgAddr := u.Host
	if u.Port() == "" {
		pgAddr = net.JoinHostPort(u.Hostname(), "5432")
	}
	proxy, err := faultproxy.New(pgAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	u.Host = proxy.Addr()

	// Two key services and two revocation services besides the
	// deploy/local counts: what must happen once (a key's activation) and
	// what both do (the outbox) are exercised with two replicas running.
	topo := startTopology(t, u.String(), map[string]int{"keys": 2, "revocation": 2},
		"--revocation-resync-interval", faultResync.String(),
		"--key-publish-lead", faultKeyLead.String(), "--jwks-max-age", "2s",
		"--peer-timeout", "3s")
	registry := at(t, topo, topo.Services["clients"][0])
	gateway := at(t, topo, topo.Services["gateway"][0])
	// The load's client, on the internal rate-limit tier: the test
	// measures faults, not the per-client budget of a partner.
	var client createdClient
	registry.cliJSON(t, &client, "clients", "create", "--name", "fault-test load", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "inventory:read", "--rate-limit-tier", "internal")
	for _, p := range topo.All() {
		t.Logf("%-12s %s", p.Name, p.Ports())
	}

	f := &faultRun{t: t, topo: topo, client: client, dead: map[string]time.Time{},
		limiter: rate.NewLimiter(faultRate, faultWorkers),
		http:    &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	for _, p := range topo.Services["inventory"] {
		conn, err := grpc.NewClient(p.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		f.inv = append(f.inv, inventoryv1.NewInventoryServiceClient(conn))
	}
	oldKid := f.kidNow(t)

	ctx, cancel := context.WithTimeout(context.Background(), duration+2*time.Minute)
	defer cancel()
	begin := time.Now()
	end := begin.Add(duration)
	var wg sync.WaitGroup
	for w := range faultWorkers {
		wg.Go(func() { f.worker(ctx, w, end) })
	}
	wg.Go(func() { f.revoker(ctx, end) })

	// The faults, at fixed fractions of the run.
	var natsKilled, tokenKilled, rotated time.Time
	when := func(frac float64) time.Time { return begin.Add(time.Duration(float64(duration) * frac)) }
	var natsVictim *topology.Process
	if sleepUntil(ctx, when(0.13)) {
		// The node with the most clients: a kill that moves connections.
		natsVictim = busiestNATS(t, topo)
		natsKilled = time.Now()
		natsVictim.Kill()
		f.markDead(natsVictim.Name, natsKilled)
	}
	if sleepUntil(ctx, when(0.22)) {
		tokenKilled = time.Now()
		f.markDead(topo.Services["token"][1].Name, tokenKilled)
		topo.Services["token"][1].Kill()
	}
	restart := os.Getenv(faultsPGRestartEnv)
	var startedBefore string
	if restart != "" {
		startedBefore = postmasterStart(t, dbURL)
	}
	if sleepUntil(ctx, when(0.33)) {
		f.pgDown = time.Now()
		if restart != "" {
			rctx, rcancel := context.WithTimeout(ctx, time.Minute)
			out, err := exec.CommandContext(rctx, "bash", "-c", restart).CombinedOutput()
			rcancel()
			if err != nil {
				t.Errorf("restart PostgreSQL (%s): %v: %s", restart, err, out)
			}
		} else {
			proxy.Down()
			sleepUntil(ctx, f.pgDown.Add(5*time.Second))
			proxy.Up()
		}
		f.setPGUp(time.Now())
	}
	if sleepUntil(ctx, when(0.58)) {
		rotated = time.Now()
		if res := gateway.rest(t, "POST", "/v1/keys:rotate", apiKeyHeaderFor(topo.AdminKey), `{}`); res.code != 200 {
			t.Errorf("rotate the signing key through the gateway: %d %s", res.code, res.rawBody)
		}
	}
	wg.Wait()
	newKid := f.kidNow(t)

	rel := func(at time.Time) string { return fmt.Sprintf("%5.1fs", at.Sub(begin).Seconds()) }
	t.Logf("faults: NATS node %s killed at %s; %s killed at %s; PostgreSQL away %s..%s; signing key rotated at %s (%s -> %s)",
		natsVictim.Name, rel(natsKilled), topo.Services["token"][1].Name, rel(tokenKilled), rel(f.pgDown), rel(f.pgUp), rel(rotated), oldKid, newKid)
	f.report(begin)
	f.check(oldKid, newKid)
	st := proxy.Stats()
	t.Logf("PostgreSQL proxy: %d connections forwarded, %d dropped by the outage, %d refused during it", st.Accepted, st.Dropped, st.Refused)
	if restart != "" {
		after := postmasterStart(t, dbURL)
		t.Logf("PostgreSQL restarted for real (%s), in %v: started at %s, then at %s", restart, f.pgUp.Sub(f.pgDown).Round(time.Millisecond), startedBefore, after)
		if after == startedBefore {
			t.Error("PostgreSQL was not restarted: its start time did not change")
		}
	} else if st.Dropped+st.Refused == 0 {
		t.Error("the PostgreSQL outage touched no connection")
	}
	// One rotation made one key, whichever key replica activated it, and
	// both replicas publish the same JWKS.
	var listed struct {
		Keys []struct {
			Kid   string `json:"kid"`
			State string `json:"state"`
		} `json:"keys"`
	}
	if res := gateway.rest(t, "GET", "/v1/keys", apiKeyHeaderFor(topo.AdminKey), ""); res.code != 200 || json.Unmarshal([]byte(res.rawBody), &listed) != nil {
		t.Errorf("list keys: %d %s", res.code, res.rawBody)
	}
	t.Logf("signing keys after the run: %+v", listed.Keys)
	if len(listed.Keys) != 2 || listed.Keys[0].Kid != newKid || listed.Keys[0].State != "KEY_STATE_ACTIVE" {
		t.Errorf("after one rotation: %+v, want the new key %s active and the old one", listed.Keys, newKid)
	}
	var jwks []string
	for _, k := range topo.Services["keys"] {
		res := at(t, topo, k).rest(t, "GET", "/.well-known/jwks.json", nil, "")
		jwks = append(jwks, res.rawBody)
	}
	if jwks[0] != jwks[1] || !strings.Contains(jwks[0], newKid) {
		t.Errorf("the key replicas publish different JWKS, or not the new key:\n%s\n%s", jwks[0], jwks[1])
	}
	moved := 0
	for _, p := range topo.All() {
		if strings.Contains(p.Logs(), "nats reconnected") {
			moved++
		}
	}
	t.Logf("%d processes reconnected to another NATS node after the kill", moved)
	if moved == 0 {
		t.Error("no process lost its NATS node: the kill tested nothing")
	}
	// Every process still alive is ready at the end, on two NATS nodes.
	for _, p := range topo.All() {
		if !p.Running() {
			continue
		}
		if err := p.WaitReady(ctx, 10*time.Second); err != nil {
			t.Errorf("after the run: %v", err)
		}
	}
}

// faultRun is the load's state and record.
type faultRun struct {
	t       *testing.T
	topo    *topology.Topology
	client  createdClient
	inv     []inventoryv1.InventoryServiceClient
	http    *http.Client
	limiter *rate.Limiter

	mu     sync.Mutex
	ops    []faultOp
	revs   []revocationRecord
	dead   map[string]time.Time
	pgDown time.Time
	pgUp   time.Time
	next   int
}

// revocationRecord is one revocation of the stream.
type revocationRecord struct {
	acked    time.Time
	ackCode  int
	refusals map[string]time.Duration // validator -> delay after the ack
	late     []string                 // validators that accepted the token past the bound
}

func (f *faultRun) markDead(name string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead[name] = at
}

func (f *faultRun) setPGUp(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pgUp = at
}

func (f *faultRun) record(op faultOp) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, op)
}

// tokenReplica picks the token replicas in turn, the killed one included:
// calls to it are recorded and told apart from calls to live replicas.
func (f *faultRun) tokenReplica() *topology.Process {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	reps := f.topo.Services["token"]
	return reps[f.next%len(reps)]
}

// liveToken gets a token from a replica that is alive, recording the call.
func (f *faultRun) mint(ctx context.Context, p *topology.Process) (string, faultOp) {
	op := faultOp{kind: "token", target: p.Name, at: time.Now()}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"inventory:read"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.HTTP+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.client.ClientID, f.client.ClientSecret)
	resp, err := f.http.Do(req)
	op.took = time.Since(op.at)
	if err != nil {
		op.code = "transport"
		return "", op
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	op.code = fmt.Sprint(resp.StatusCode)
	if resp.StatusCode != 200 {
		return "", op
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		op.code = "bad body"
		return "", op
	}
	leaks.add("access token", tr.AccessToken)
	op.ok = true
	op.kid = tokenKid(tr.AccessToken)
	return tr.AccessToken, op
}

// worker mints a token every tenth operation and calls the inventory API
// with it, through the gateways and directly over gRPC in turn.
func (f *faultRun) worker(ctx context.Context, w int, end time.Time) {
	var tok string
	for i := 0; time.Now().Before(end); i++ {
		if err := f.limiter.Wait(ctx); err != nil {
			return
		}
		if tok == "" || i%10 == 0 {
			t, op := f.mint(ctx, f.tokenReplica())
			f.record(op)
			if t != "" {
				tok = t
			}
			continue
		}
		if (i+w)%2 == 0 {
			gw := f.topo.Services["gateway"][(i/2)%len(f.topo.Services["gateway"])]
			f.record(f.callHTTP(ctx, "gateway", gw, tok))
		} else {
			k := (i / 2) % len(f.inv)
			f.record(f.callGRPC(ctx, k, tok))
		}
	}
}

func (f *faultRun) callHTTP(ctx context.Context, kind string, p *topology.Process, tok string) faultOp {
	op := faultOp{kind: kind, target: p.Name, at: time.Now()}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.HTTP+"/v1/inventory/items", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := f.http.Do(req)
	op.took = time.Since(op.at)
	if err != nil {
		op.code = "transport"
		return op
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	op.code = fmt.Sprint(resp.StatusCode)
	op.ok = resp.StatusCode == 200
	return op
}

func (f *faultRun) callGRPC(ctx context.Context, k int, tok string) faultOp {
	op := faultOp{kind: "grpc", target: f.topo.Services["inventory"][k].Name, at: time.Now()}
	cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), 5*time.Second)
	defer cancel()
	_, err := f.inv[k].ListItems(cctx, &inventoryv1.ListItemsRequest{})
	op.took = time.Since(op.at)
	op.code = status.Code(err).String()
	op.ok = err == nil
	return op
}

// revoker revokes a fresh token every 500 ms (RFC 7009 at a live token
// replica) and watches every validator (the inventory replicas and the
// gateways) until each refuses it.
func (f *faultRun) revoker(ctx context.Context, end time.Time) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var watches sync.WaitGroup
	defer watches.Wait()
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p := f.topo.Services["token"][0] // never killed
		tok, op := f.mint(ctx, p)
		if tok == "" {
			f.record(op)
			continue
		}
		form := url.Values{"token": {tok}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.HTTP+"/oauth2/revoke", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(f.client.ClientID, f.client.ClientSecret)
		resp, err := f.http.Do(req)
		rec := revocationRecord{acked: time.Now(), refusals: map[string]time.Duration{}}
		if err != nil {
			f.record(faultOp{kind: "revoke", target: p.Name, at: rec.acked, code: "transport"})
			continue
		}
		resp.Body.Close()
		rec.ackCode = resp.StatusCode
		f.record(faultOp{kind: "revoke", target: p.Name, at: rec.acked, ok: resp.StatusCode == 200, code: fmt.Sprint(resp.StatusCode)})
		if resp.StatusCode != 200 {
			continue
		}
		f.mu.Lock()
		f.revs = append(f.revs, rec)
		i := len(f.revs) - 1
		f.mu.Unlock()
		watches.Go(func() { f.watch(ctx, i, tok) })
	}
}

// watch polls every validator with a revoked token until each refuses it,
// and keeps asking each once more after the bound.
func (f *faultRun) watch(ctx context.Context, i int, tok string) {
	f.mu.Lock()
	acked := f.revs[i].acked
	f.mu.Unlock()
	validators := append(slices.Clone(f.topo.Services["inventory"]), f.topo.Services["gateway"]...)
	// Each watch calls from a loopback address of its own: the
	// validators limit failed authentications per caller address, and the
	// revoked token's refusals are failures.
	src := &net.TCPAddr{IP: net.IPv4(127, 1, byte(i/250), byte(i%250+1))}
	watcher := &faultRun{http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}).DialContext}}}
	defer watcher.http.CloseIdleConnections()
	var wg sync.WaitGroup
	for _, v := range validators {
		wg.Go(func() {
			refused := time.Duration(-1)
			for time.Since(acked) < staleBound+2*time.Second {
				op := watcher.callHTTP(ctx, "watch", v, tok)
				if op.code == "401" {
					refused = time.Since(acked)
					break
				}
				if op.code == "200" && time.Since(acked) > staleBound {
					f.mu.Lock()
					f.revs[i].late = append(f.revs[i].late, v.Name)
					f.mu.Unlock()
				}
				time.Sleep(50 * time.Millisecond)
			}
			f.mu.Lock()
			if refused >= 0 {
				f.revs[i].refusals[v.Name] = refused
			}
			f.mu.Unlock()
		})
	}
	wg.Wait()
}

// report prints the load's outcome per operation and target.
func (f *faultRun) report(begin time.Time) {
	t := f.t
	f.mu.Lock()
	defer f.mu.Unlock()
	type key struct{ kind, target string }
	counts := map[key]map[string]int{}
	var keys []key
	lat := map[string][]time.Duration{}
	for _, op := range f.ops {
		k := key{op.kind, op.target}
		if counts[k] == nil {
			counts[k] = map[string]int{}
			keys = append(keys, k)
		}
		counts[k][op.code]++
		if op.ok {
			lat[op.kind] = append(lat[op.kind], op.took)
		}
	}
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(a.kind+a.target, b.kind+b.target) })
	var b strings.Builder
	fmt.Fprintf(&b, "%d operations in %s\n", len(f.ops), time.Since(begin).Round(time.Second))
	for _, k := range keys {
		var parts []string
		for code, n := range counts[k] {
			parts = append(parts, fmt.Sprintf("%s x%d", code, n))
		}
		slices.Sort(parts)
		fmt.Fprintf(&b, "  %-8s %-12s %s\n", k.kind, k.target, strings.Join(parts, ", "))
	}
	for _, kind := range []string{"token", "gateway", "grpc"} {
		p50, p99, mx := percentiles(lat[kind])
		fmt.Fprintf(&b, "  latency %-8s p50 %v p99 %v max %v\n", kind, p50, p99, mx)
	}
	var delays []time.Duration
	for _, r := range f.revs {
		for _, d := range r.refusals {
			delays = append(delays, d)
		}
	}
	p50, p99, mx := percentiles(delays)
	fmt.Fprintf(&b, "revocations: %d acknowledged, %d refusals observed (%d validators each); delay after the ack p50 %v p99 %v max %v (bound %v)\n",
		len(f.revs), len(delays), len(f.topo.Services["inventory"])+len(f.topo.Services["gateway"]), p50, p99, mx, staleBound)
	t.Log("\n" + b.String())
}

// check asserts what the run must show.
func (f *faultRun) check(oldKid, newKid string) {
	t := f.t
	f.mu.Lock()
	defer f.mu.Unlock()
	pgWindow := func(at time.Time, took time.Duration) bool {
		return !f.pgDown.IsZero() && !at.Add(took).Before(f.pgDown) && at.Before(f.pgUp.Add(faultRecovery))
	}
	var bad []string
	kids := map[string]int{}
	for _, op := range f.ops {
		if op.kid != "" {
			kids[op.kid]++
		}
		if op.ok {
			continue
		}
		if died, ok := f.dead[op.target]; ok && !op.at.Add(op.took).Before(died) {
			continue // the process was killed: not a live replica
		}
		unavailable := op.code == "503" || op.code == codes.Unavailable.String()
		if unavailable && pgWindow(op.at, op.took) {
			continue
		}
		bad = append(bad, fmt.Sprintf("%s at %s: %s (%s after start)", op.kind, op.target, op.code, op.took.Round(time.Millisecond)))
	}
	if len(bad) > 0 {
		t.Errorf("%d requests to live processes failed outside what the faults allow; the first: %s", len(bad), strings.Join(bad[:min(len(bad), 10)], "; "))
	}
	validators := len(f.topo.Services["inventory"]) + len(f.topo.Services["gateway"])
	for i, r := range f.revs {
		if len(r.refusals) != validators {
			t.Errorf("revocation %d (acked at %s): refused by %d of %d validators within %v", i, r.acked.Format(time.StampMilli), len(r.refusals), validators, staleBound+2*time.Second)
		}
		if len(r.late) > 0 {
			t.Errorf("revocation %d: accepted after ack + %v by %v", i, staleBound, r.late)
		}
	}
	if len(f.revs) < 10 {
		t.Errorf("only %d revocations were acknowledged", len(f.revs))
	}
	t.Logf("tokens by signing key: %v (before the rotation %s, after %s)", kids, oldKid, newKid)
	if newKid == oldKid || kids[newKid] == 0 {
		t.Errorf("no token was signed with the rotated-in key %s", newKid)
	}
}

// kidNow is the kid of a token the first token replica signs now.
func (f *faultRun) kidNow(t *testing.T) string {
	t.Helper()
	tok, op := f.mint(context.Background(), f.topo.Services["token"][0])
	if tok == "" {
		t.Fatalf("token: %s", op.code)
	}
	return op.kid
}

func percentiles(ds []time.Duration) (p50, p99, maxD time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		return s[min(len(s)-1, int(q*float64(len(s))))].Round(100 * time.Microsecond)
	}
	return at(0.50), at(0.99), s[len(s)-1].Round(100 * time.Microsecond)
}

// tokenKid is the kid in a JWT's header.
func tokenKid(tok string) string {
	head, _, ok := strings.Cut(tok, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Kid
}

// busiestNATS is the NATS node with the most client connections
// (monitoring /connz).
func busiestNATS(t *testing.T, topo *topology.Topology) *topology.Process {
	t.Helper()
	best, most := topo.NATS[0], -1
	for _, n := range topo.NATS {
		resp, err := http.Get("http://" + n.HTTP + "/connz") //nolint:noctx // test, loopback
		if err != nil {
			continue
		}
		var c struct {
			NumConnections int `json:"num_connections"`
		}
		err = json.NewDecoder(resp.Body).Decode(&c)
		resp.Body.Close()
		if err == nil && c.NumConnections > most {
			best, most = n, c.NumConnections
		}
	}
	t.Logf("killing %s, which has %d client connections", best.Name, most)
	return best
}

// postmasterStart is when the PostgreSQL server at dbURL started, retried
// for a while (it may be coming back from a restart).
func postmasterStart(t *testing.T, dbURL string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var started time.Time
		conn, err := pgx.Connect(ctx, dbURL)
		if err == nil {
			err = conn.QueryRow(ctx, "SELECT pg_postmaster_start_time()").Scan(&started)
			_ = conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return started.UTC().Format(time.RFC3339Nano)
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL start time: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
