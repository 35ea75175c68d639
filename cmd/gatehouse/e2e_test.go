package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// binary is the gatehouse binary built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gatehouse")
	watchHTTP()
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gatehouse:", err)
		os.Exit(1)
	}
	code := m.Run()
	if testing.Verbose() {
		fmt.Fprintln(os.Stderr, "leak watch:", leaks.summary())
	}
	// Error responses seen after the last server stopped.
	for _, p := range leaks.takeProblems() {
		fmt.Fprintln(os.Stderr, "leak watch:", p)
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

type credentials struct {
	APIKey   string `json:"api_key"`
	GRPCAddr string `json:"grpc_addr"`
	HTTPAddr string `json:"http_addr"`
	NATSURL  string `json:"nats_url"`
}

type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	args    []string
	logs    *logtest.Buffer
	creds   credentials
	exited  chan error
}

// start runs `gatehouse serve` on free loopback ports and waits until it
// is ready.
func start(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	return startBinary(t, binary, dataDir, extra...)
}

// startBinary is start with another build of gatehouse.
func startBinary(t *testing.T, binary, dataDir string, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--data-dir", dataDir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--mtls-addr", "127.0.0.1:0", "--shutdown-timeout", "5s"}, extra...)
	s := &server{t: t, dataDir: dataDir, args: args, logs: &logtest.Buffer{}, exited: make(chan error, 1)}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	s.cmd.Env = cleanEnv()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() { s.stop() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse did not become ready; logs:\n%s", s.logs)
		}
		select {
		case err := <-s.exited:
			t.Fatalf("gatehouse exited early: %v; logs:\n%s", err, s.logs)
		default:
		}
		if b, err := os.ReadFile(filepath.Join(dataDir, "admin-credentials.json")); err == nil && json.Unmarshal(b, &s.creds) == nil && s.creds.HTTPAddr != "" {
			if ready(s.creds.HTTPAddr) && s.logsHaveAddr() {
				leaks.add("admin API key", s.creds.APIKey)
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logsHaveAddr makes sure the credentials file is from this run, not the
// previous one in the same data dir.
func (s *server) logsHaveAddr() bool {
	return strings.Contains(s.logs.String(), s.creds.HTTPAddr)
}

func ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz") //nolint:noctx // test poll
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.checkMetricsForLeaks()
	defer s.checkLogsForLeaks()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		if err != nil {
			s.t.Errorf("gatehouse exited with %v after SIGTERM; logs:\n%s", err, s.logs)
		}
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		s.t.Errorf("gatehouse did not stop within 15s of SIGTERM")
	}
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	return env
}

// cli runs an admin command against the server and returns stdout.
func (s *server) cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, append(args, "--credentials", filepath.Join(s.dataDir, "admin-credentials.json"))...)
	cmd.Env = cleanEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	leaks.collectJSON(out.Bytes())
	if err != nil {
		return out.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

func (s *server) cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, err := s.cli(t, append(args, "-o", "json")...)
	if err != nil {
		t.Fatalf("gatehouse %s: %v", strings.Join(args, " "), err)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("gatehouse %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (s *server) grpcClient(t *testing.T) (clientsv1.ClientRegistryServiceClient, *grpc.ClientConn) {
	t.Helper()
	conn, err := grpc.NewClient(s.creds.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return clientsv1.NewClientRegistryServiceClient(conn), conn
}

func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "ApiKey "+key)
}

type restResult struct {
	code    int
	header  http.Header
	body    map[string]any
	rawBody string
}

func (s *server) rest(t *testing.T, method, path string, headers map[string]string, body string) restResult {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, "http://"+s.creds.HTTPAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Add(k, v)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := restResult{code: resp.StatusCode, header: resp.Header, rawBody: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

// eventually retries cond for up to 3 s: cache invalidation travels over NATS.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 3s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type createdClient struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

type createdKey struct {
	APIKey   string `json:"api_key"`
	KeyID    string `json:"key_id"`
	ClientID string `json:"client_id"`
	Expire   string `json:"expire_time"`
}

func TestEndToEndSQLiteEmbeddedNATS(t *testing.T) {
	dataDir := t.TempDir()
	s := start(t, dataDir)
	secrets := exerciseRegistry(t, s)

	// Item 55: the store holds no raw key or secret.
	for _, name := range []string{"gatehouse.db", "gatehouse.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dataDir, name))
		if err != nil {
			continue
		}
		for _, secret := range secrets {
			if bytes.Contains(b, []byte(secret)) {
				t.Fatalf("%s contains a raw secret", name)
			}
		}
	}

	// A restart keeps the admin credential and does not recreate it.
	key := s.creds.APIKey
	s.stop()
	s2 := start(t, dataDir)
	if s2.creds.APIKey != key {
		t.Fatal("restart replaced the admin API key")
	}
	if strings.Contains(s2.logs.String(), "bootstrapped") {
		t.Fatal("restart bootstrapped again")
	}
	rc, _ := s2.grpcClient(t)
	if _, err := rc.ListScopes(withKey(context.Background(), key), &clientsv1.ListScopesRequest{}); err != nil {
		t.Fatalf("admin key after restart: %v", err)
	}
	assertNoSecretsInLogs(t, s2.logs.String(), append(secrets, key))
}

func TestEndToEndPostgresExternalNATS(t *testing.T) {
	dbURL, natsURL := externalServices(t, "")
	s := start(t, t.TempDir(), "--database-url", dbURL, "--nats-url", natsURL)
	exerciseRegistry(t, s)
	assertNoSecretsInLogs(t, s.logs.String(), []string{s.creds.APIKey})
}

// externalServices returns URLs of the real PostgreSQL (in a fresh schema,
// dropped after the test; extra is appended to its query) and NATS.
func externalServices(t *testing.T, extra string) (dbURL, natsURL string) {
	t.Helper()
	dbURL = dbtest.PostgresURL(t)
	natsURL = envOr("GATEHOUSE_TEST_NATS_URL", "nats://127.0.0.1:4222")
	requireService(t, "NATS", natsURL, "127.0.0.1:4222")
	if extra != "" {
		dbURL += "&" + extra
	}
	return dbURL, natsURL
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// requireService skips locally when a real service is absent; under CI it
// must be there.
func requireService(t *testing.T, name, url, hostport string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", hostport, 2*time.Second)
	if err == nil {
		c.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not reachable at %s (CI=true: tests must run): %v", name, hostport, err)
	}
	t.Skipf("%s is not reachable at %s; start it or set the URL (%s) to run this test", name, hostport, url)
}

func assertNoSecretsInLogs(t *testing.T, logs string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Fatalf("a secret appears in the server logs")
		}
	}
}

// exerciseRegistry drives the registry as an admin and a partner would,
// over the CLI, gRPC and REST, and returns every secret it saw.
func exerciseRegistry(t *testing.T, s *server) []string {
	ctx := context.Background()
	admin := s.creds.APIKey
	if !strings.HasPrefix(admin, "gth_") {
		t.Fatalf("admin key %q has no gth_ prefix", admin[:4])
	}
	if fi, err := os.Stat(filepath.Join(s.dataDir, "admin-credentials.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin-credentials.json: mode %v, err %v; want 0600", fi.Mode().Perm(), err)
	}
	rc, conn := s.grpcClient(t)

	// Health, readiness, metrics, gRPC health.
	if r := s.rest(t, "GET", "/healthz", nil, ""); r.code != 200 {
		t.Fatalf("/healthz = %d", r.code)
	}
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc health: %v %v", hc, err)
	}

	// The admin sets up a partner with the CLI.
	if _, err := s.cli(t, "scopes", "create", "orders:read", "--description", "Read orders"); err != nil {
		t.Fatal(err)
	}
	var partner createdClient
	s.cliJSON(t, &partner, "clients", "create", "--name", "Partner", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "orders:read,gatehouse:admin")
	if partner.ClientID == "" || len(partner.ClientSecret) < 43 {
		t.Fatalf("clients create: %+v", partner)
	}
	var readKey createdKey
	s.cliJSON(t, &readKey, "apikeys", "create", "--client", partner.ClientID, "--scopes", "orders:read", "--ttl", "90d")
	exp, err := time.Parse(time.RFC3339Nano, readKey.Expire)
	if err != nil || exp.Sub(time.Now().Add(90*24*time.Hour)).Abs() > time.Minute {
		t.Fatalf("key expiry %q, want now+90d", readKey.Expire)
	}
	var opsKey createdKey
	s.cliJSON(t, &opsKey, "apikeys", "create", "--client", partner.ClientID, "--scopes", "gatehouse:admin")
	secrets := []string{partner.ClientSecret, readKey.APIKey, opsKey.APIKey}

	// Listing never shows secrets.
	out, err := s.cli(t, "apikeys", "list", "--client", partner.ClientID, "-o", "json")
	if err != nil || !strings.Contains(out, readKey.KeyID) || strings.Contains(out, readKey.APIKey) {
		t.Fatalf("apikeys list: err=%v, has key_id=%v, has secret=%v", err, strings.Contains(out, readKey.KeyID), strings.Contains(out, readKey.APIKey))
	}

	// gRPC with the admin key.
	got, err := rc.GetClient(withKey(ctx, admin), &clientsv1.GetClientRequest{ClientId: partner.ClientID})
	if err != nil || got.GetClient().GetName() != "Partner" {
		t.Fatalf("GetClient over gRPC: %v %v", got, err)
	}

	grpcCode := func(key string) codes.Code {
		c := ctx
		if key != "" {
			c = withKey(ctx, key)
		}
		_, err := rc.ListScopes(c, &clientsv1.ListScopesRequest{})
		return status.Code(err)
	}
	apiKeyHeader := func(k string) map[string]string { return map[string]string{"Authorization": "ApiKey " + k} }
	bad := []byte(readKey.APIKey)
	bad[10] ^= 1

	tests := []struct {
		name      string
		grpcKey   string
		headers   map[string]string
		path      string
		grpcWant  codes.Code
		httpWant  int
		challenge string // exact WWW-Authenticate, or a prefix ending in '*'
	}{
		{name: "admin key", grpcKey: admin, headers: apiKeyHeader(admin), grpcWant: codes.OK, httpWant: 200},
		{name: "admin key in X-API-Key", headers: map[string]string{"X-API-Key": admin}, grpcWant: codes.OK, grpcKey: admin, httpWant: 200},
		{name: "scheme is case-insensitive", headers: map[string]string{"Authorization": "apikey " + admin}, grpcKey: admin, grpcWant: codes.OK, httpWant: 200},
		{name: "no credential", grpcWant: codes.Unauthenticated, httpWant: 401, challenge: `Bearer realm="gatehouse"`},
		{name: "key in the query only", path: "/v1/scopes?api_key=" + admin + "&access_token=" + admin, grpcWant: codes.Unauthenticated, httpWant: 401, challenge: `Bearer realm="gatehouse"`},
		{name: "mistyped key", grpcKey: string(bad), headers: apiKeyHeader(string(bad)), grpcWant: codes.Unauthenticated, httpWant: 401, challenge: `Bearer realm="gatehouse", error="invalid_token"*`},
		{name: "scope missing", grpcKey: readKey.APIKey, headers: apiKeyHeader(readKey.APIKey), grpcWant: codes.PermissionDenied, httpWant: 403, challenge: `Bearer realm="gatehouse", error="insufficient_scope"*scope="gatehouse:admin"`},
		{name: "two credentials", headers: map[string]string{"Authorization": "ApiKey " + admin, "X-API-Key": admin}, grpcWant: codes.OK, grpcKey: admin, httpWant: 400, challenge: `Bearer realm="gatehouse", error="invalid_request"*`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if c := grpcCode(tc.grpcKey); c != tc.grpcWant {
				t.Errorf("gRPC: %v, want %v", c, tc.grpcWant)
			}
			path := tc.path
			if path == "" {
				path = "/v1/scopes"
			}
			r := s.rest(t, "GET", path, tc.headers, "")
			if r.code != tc.httpWant {
				t.Fatalf("REST: %d %s, want %d", r.code, r.rawBody, tc.httpWant)
			}
			if tc.challenge != "" {
				assertChallenge(t, r.header.Values("WWW-Authenticate"), tc.challenge)
			}
			if r.code == 200 && !strings.Contains(r.rawBody, `"orders:read"`) {
				t.Fatalf("REST body: %s", r.rawBody)
			}
		})
	}

	// REST create with snake_case JSON, through the same interceptors.
	r := s.rest(t, "POST", "/v1/clients/"+partner.ClientID+"/apikeys", apiKeyHeader(opsKey.APIKey), `{"scopes":["orders:read"],"description":"rest"}`)
	if r.code != 200 || !strings.HasPrefix(fmt.Sprint(r.body["api_key"]), "gth_") {
		t.Fatalf("REST CreateAPIKey: %d %s", r.code, r.rawBody)
	}
	secrets = append(secrets, fmt.Sprint(r.body["api_key"]))
	// Invalid input is refused naming the field, and changes nothing.
	r = s.rest(t, "POST", "/v1/clients", apiKeyHeader(admin), `{"name":"x","type":"CLIENT_TYPE_THIRD_PARTY","grant_types":["password"]}`)
	if r.code != 400 || !strings.Contains(r.rawBody, "grant_types") {
		t.Fatalf("REST invalid client: %d %s", r.code, r.rawBody)
	}

	// Revocation: the key stops working at once (cache dropped over NATS).
	if grpcCode(opsKey.APIKey) != codes.OK {
		t.Fatal("ops key does not work")
	}
	if _, err := s.cli(t, "apikeys", "revoke", "--client", partner.ClientID, "--key", opsKey.KeyID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revoked key refused", func() bool { return grpcCode(opsKey.APIKey) == codes.Unauthenticated })
	r = s.rest(t, "GET", "/v1/scopes", apiKeyHeader(opsKey.APIKey), "")
	if r.code != 401 {
		t.Fatalf("revoked key over REST: %d", r.code)
	}
	assertChallenge(t, r.header.Values("WWW-Authenticate"), `Bearer realm="gatehouse", error="invalid_token"*`)

	// Rotation with no grace: the old key expires at once, the new one works.
	var rotKey, rotated createdKey
	s.cliJSON(t, &rotKey, "apikeys", "create", "--client", partner.ClientID, "--scopes", "gatehouse:admin")
	if grpcCode(rotKey.APIKey) != codes.OK {
		t.Fatal("key to rotate does not work")
	}
	s.cliJSON(t, &rotated, "apikeys", "rotate", "--client", partner.ClientID, "--key", rotKey.KeyID, "--grace", "0s")
	eventually(t, "rotated-out key refused", func() bool { return grpcCode(rotKey.APIKey) == codes.Unauthenticated })
	if c := grpcCode(rotated.APIKey); c != codes.OK {
		t.Fatalf("new key after rotation: %v", c)
	}
	secrets = append(secrets, rotKey.APIKey, rotated.APIKey)

	// Disabling the client stops its keys.
	if _, err := s.cli(t, "clients", "update", partner.ClientID, "--disabled=true"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "disabled client's key refused", func() bool { return grpcCode(rotated.APIKey) == codes.Unauthenticated })

	// Rate limit per client: a low-tier client gets 429 with Retry-After;
	// the admin is not affected.
	var slow createdClient
	s.cliJSON(t, &slow, "clients", "create", "--name", "Trial", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "gatehouse:admin", "--rate-limit-tier", "low")
	var slowKey createdKey
	s.cliJSON(t, &slowKey, "apikeys", "create", "--client", slow.ClientID, "--scopes", "gatehouse:admin")
	secrets = append(secrets, slow.ClientSecret, slowKey.APIKey)
	limited := false
	for range 40 {
		r := s.rest(t, "GET", "/v1/scopes", apiKeyHeader(slowKey.APIKey), "")
		if r.code == 429 {
			if r.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("low-tier client never rate limited in 40 fast requests")
	}
	if _, err := rc.ListScopes(withKey(ctx, slowKey.APIKey), &clientsv1.ListScopesRequest{}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("gRPC over the limit: %v, want ResourceExhausted", err)
	}
	if c := grpcCode(admin); c != codes.OK {
		t.Fatalf("admin after another client's limit: %v", c)
	}

	// Every failure above was counted by reason.
	m := s.rest(t, "GET", "/metrics", nil, "")
	for _, reason := range []string{"missing_credential", "insufficient_scope", "rate_limited"} {
		if !strings.Contains(m.rawBody, `gatehouse_auth_failures_total{reason="`+reason+`"}`) {
			t.Errorf("metrics lack auth failures with reason %s", reason)
		}
	}
	logs := s.logs.String()
	if !strings.Contains(logs, `"event":"auth_failure"`) {
		t.Error("no auth_failure log line")
	}
	assertNoSecretsInLogs(t, logs, append(secrets, admin))
	return secrets
}

// assertChallenge compares WWW-Authenticate values with want, where a '*'
// in want matches any run of characters.
func assertChallenge(t *testing.T, got []string, want string) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("WWW-Authenticate: %q, want one value like %q", got, want)
	}
	parts := strings.Split(want, "*")
	rest := got[0]
	for i, p := range parts {
		idx := strings.Index(rest, p)
		if idx < 0 || (i == 0 && idx != 0) {
			t.Fatalf("WWW-Authenticate: %q, want %q", got[0], want)
		}
		rest = rest[idx+len(p):]
	}
	if !strings.HasSuffix(want, "*") && rest != "" {
		t.Fatalf("WWW-Authenticate: %q, want %q", got[0], want)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		option string
	}{
		{"bad http addr", []string{"serve", "--http-addr", "nonsense"}, "http-addr"},
		{"bad database url", []string{"serve", "--database-url", "mysql://x"}, "database-url"},
		{"unknown service", []string{"serve", "everything"}, "service"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, tc.args...)
			cmd.Env = cleanEnv()
			var errOut bytes.Buffer
			cmd.Stderr = &errOut
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("exit: %v, want non-zero", err)
			}
			lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.option) {
				t.Fatalf("stderr %q: want one line naming %s", errOut.String(), tc.option)
			}
		})
	}
}
