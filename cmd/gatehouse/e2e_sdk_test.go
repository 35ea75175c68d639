package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/resourceserver"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// ordersAudience is the resource indicator of the service the SDK tests
// protect.
const ordersAudience = "https://orders.example"

// sdkWorld is a running Gatehouse with what a protected service and its
// callers need: the orders scopes, callers with and without them, an API
// key, and a service identity for the validator.
type sdkWorld struct {
	s       *server
	reader  createdClient // orders:read, for the orders audience
	other   createdClient // orders:write only
	low     createdClient // orders:read, the low rate-limit tier
	key     createdKey    // an API key with orders:read
	service createdClient // the protected service's own client
}

func setupSDK(t *testing.T, s *server) *sdkWorld {
	t.Helper()
	w := &sdkWorld{s: s}
	for _, sc := range []string{"orders:read", "orders:write"} {
		if _, err := s.cli(t, "scopes", "create", sc, "--description", "orders"); err != nil {
			t.Fatalf("scopes create %s: %v", sc, err)
		}
	}
	s.cliJSON(t, &w.reader, "clients", "create", "--name", "Orders reader", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "orders:read", "--resources", ordersAudience)
	s.cliJSON(t, &w.other, "clients", "create", "--name", "Orders writer", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "orders:write", "--resources", ordersAudience)
	s.cliJSON(t, &w.low, "clients", "create", "--name", "Slow reader", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "orders:read", "--resources", ordersAudience,
		"--rate-limit-tier", "low")
	var keyOwner createdClient
	s.cliJSON(t, &keyOwner, "clients", "create", "--name", "Key owner", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "orders:read")
	s.cliJSON(t, &w.key, "apikeys", "create", "--client", keyOwner.ClientID, "--scopes", "orders:read")
	s.cliJSON(t, &w.service, "clients", "create", "--name", "orders", "--type", "service")
	for _, c := range []createdClient{w.reader, w.other, w.low, keyOwner, w.service} {
		leaks.add("client secret", c.ClientSecret)
	}
	leaks.add("API key", w.key.APIKey)
	return w
}

// token gets a client-credentials token for the orders audience, with
// golang.org/x/oauth2 as a caller would.
func (w *sdkWorld) token(t *testing.T, c createdClient) string {
	t.Helper()
	cfg := (&m2m{s: w.s}).config(c)
	cfg.EndpointParams = url.Values{"resource": {ordersAudience}}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatalf("token for %s: %v", c.ClientID, err)
	}
	return tok.AccessToken
}

// protectedAPI is a service protected with the SDK, as its callers see
// it: GET /orders and a gRPC method needing orders:read, and its /readyz.
type protectedAPI struct {
	httpURL  string
	grpcAddr string
	// resyncs is the count of the service's completed re-syncs of the
	// revocation list; nil when the service runs in another process.
	resyncs func() uint64
	// grpcMethod takes an empty request: emptypb.Empty has its encoding.
	grpcMethod string
}

// startProtected runs a service written as a team outside Gatehouse
// would, in this process: gRPC (the health service stands for its API)
// and HTTP, wired with resourceserver.New.
func startProtected(t *testing.T, s *server, creds resourceserver.Credentials, gatehouse string, roots *x509.CertPool, nc *nats.Conn) protectedAPI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	rules, err := authn.RulesFromServer(gs, map[string]*authv1.AuthRule{
		"/grpc.health.v1.Health/Check": authn.Scopes("orders:read"),
		"/grpc.health.v1.Health/List":  authn.Scopes("orders:read"),
		"/grpc.health.v1.Health/Watch": authn.Scopes("orders:read"),
	})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := resourceserver.New(ctx, resourceserver.Config{
		Issuer:      "http://" + s.creds.HTTPAddr,
		Audience:    ordersAudience,
		Service:     "orders",
		Rules:       rules,
		Gatehouse:   gatehouse,
		Credentials: creds,
		RootCAs:     roots,
		Insecure:    creds.Certificate == nil,
		NATS:        nc,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Re-sync with List often, so the test sees the service's own
		// credential used after an emergency rotation.
		RevocationResyncInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(rs.UnaryInterceptor()), grpc.ChainStreamInterceptor(rs.StreamInterceptor()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	if err := rs.Check(srv); err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(gl) }()
	t.Cleanup(srv.Stop)

	mux := http.NewServeMux()
	mux.Handle("GET /orders", rs.RequireScopes("orders:read")(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		p, _ := authn.FromContext(r.Context())
		_ = json.NewEncoder(rw).Encode(map[string]string{"client_id": p.ClientID, "tier": p.RateLimitTier})
	})))
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		if err := rs.Ready(); err != nil {
			http.Error(rw, err.Error(), http.StatusServiceUnavailable)
		}
	})
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(hl) }()
	t.Cleanup(func() { _ = hs.Close() })
	return protectedAPI{
		httpURL: "http://" + hl.Addr().String(), grpcAddr: gl.Addr().String(), grpcMethod: "/grpc.health.v1.Health/Check",
		resyncs: func() uint64 { return rs.RevocationStats().Resyncs },
	}
}

// get calls GET /orders with header name: value (none when name is "")
// and returns the status.
func (o protectedAPI) get(t *testing.T, name, value string) int {
	t.Helper()
	return o.status(t, "/orders", name, value)
}

func (o protectedAPI) status(t *testing.T, path, name, value string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, o.httpURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if name != "" {
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// call calls the gRPC method with the bearer token and returns the code.
func (o protectedAPI) call(t *testing.T, tok string) codes.Code {
	t.Helper()
	conn, err := grpc.NewClient(o.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	return status.Code(conn.Invoke(ctx, o.grpcMethod, &emptypb.Empty{}, &emptypb.Empty{}))
}

// waitReady waits for the service's /readyz.
func (o protectedAPI) waitReady(t *testing.T) {
	t.Helper()
	within(t, 15*time.Second, "service ready", func() bool { return o.status(t, "/readyz", "", "") == http.StatusOK })
}

// within polls cond every 25 ms (under the standard tier's rate) for up
// to d and reports how long it took.
func within(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Since(start)
}

// exerciseProtected is what a team adopting the SDK relies on, checked
// against a protected service: JWTs and API keys accepted over HTTP and
// gRPC, a wrong scope and a missing credential refused, a revocation
// applied within a second, an emergency key rotation survived (the
// service's own credential renewed, its list kept fresh, tokens of the new
// key accepted at once), and the client's rate-limit tier applied.
func exerciseProtected(t *testing.T, s *server, w *sdkWorld, o protectedAPI) {
	o.waitReady(t)
	tok := w.token(t, w.reader)
	if st := o.get(t, "Authorization", "Bearer "+tok); st != http.StatusOK {
		t.Fatalf("JWT over HTTP: %d", st)
	}
	if c := o.call(t, tok); c != codes.OK {
		t.Fatalf("JWT over gRPC: %v", c)
	}
	if st := o.get(t, "X-API-Key", w.key.APIKey); st != http.StatusOK {
		t.Fatalf("API key: %d", st)
	}
	other := w.token(t, w.other)
	if st := o.get(t, "Authorization", "Bearer "+other); st != http.StatusForbidden {
		t.Fatalf("wrong scope over HTTP: %d, want 403", st)
	}
	if c := o.call(t, other); c != codes.PermissionDenied {
		t.Fatalf("wrong scope over gRPC: %v, want PermissionDenied", c)
	}
	if st := o.get(t, "", ""); st != http.StatusUnauthorized {
		t.Fatalf("no credential: %d, want 401", st)
	}

	if _, err := s.cli(t, "revoke", "api-key", w.key.KeyID, "--reason", "test"); err != nil {
		t.Fatal(err)
	}
	took := within(t, time.Second, "revoked API key refused", func() bool {
		return o.get(t, "X-API-Key", w.key.APIKey) == http.StatusUnauthorized
	})
	t.Logf("API key revocation reached the service in %v", took)

	kid, _ := jwtHeader(t, tok)["kid"].(string)
	rotateCompromised(t, s, kid)
	within(t, time.Second, "token of the compromised key refused", func() bool {
		return o.get(t, "Authorization", "Bearer "+tok) == http.StatusUnauthorized
	})
	fresh := w.token(t, w.reader)
	if k, _ := jwtHeader(t, fresh)["kid"].(string); k == kid {
		t.Fatalf("new token signed by the compromised key %s", kid)
	}
	took = within(t, time.Second, "token of the new key accepted", func() bool {
		return o.get(t, "Authorization", "Bearer "+fresh) == http.StatusOK
	})
	t.Logf("new key's token accepted %v after the rotation", took)
	// The service's own token, if it has one, was signed by the
	// compromised key too: the service must renew it and keep its list
	// fresh, so its re-syncs go on succeeding and a revocation made now
	// still arrives.
	if o.resyncs != nil {
		before := o.resyncs()
		within(t, 3*time.Second, "re-syncs of the list after the rotation", func() bool { return o.resyncs() >= before+3 })
	}
	victim := w.token(t, w.low)
	if _, err := s.cli(t, "revoke", "client", w.low.ClientID, "--reason", "after the rotation"); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "revocation after the rotation", func() bool {
		return o.get(t, "Authorization", "Bearer "+victim) == http.StatusUnauthorized
	})
	if st := o.status(t, "/readyz", "", ""); st != http.StatusOK {
		t.Fatalf("service not ready after the rotation: %d", st)
	}

	lowTok := w.token(t, w.low)
	var limited int
	for range 30 {
		if o.get(t, "Authorization", "Bearer "+lowTok) == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("30 requests of a low-tier client: none refused with 429")
	}
	hi := w.token(t, w.reader)
	for range 30 {
		if st := o.get(t, "Authorization", "Bearer "+hi); st != http.StatusOK {
			t.Fatalf("standard-tier client refused with %d", st)
		}
	}
}

// TestEndToEndResourceServerSDK protects a service with
// resourceserver.New against the binary, with each credential a service
// may have, with and without NATS.
func TestEndToEndResourceServerSDK(t *testing.T) {
	t.Run("client secret, Watch", func(t *testing.T) {
		s := start(t, t.TempDir())
		w := setupSDK(t, s)
		exerciseProtected(t, s, w, startProtected(t, s, w.serviceSecret(), s.creds.GRPCAddr, nil, nil))
	})
	t.Run("certificate, Watch", func(t *testing.T) {
		dir := t.TempDir()
		s := start(t, dir)
		w := setupSDK(t, s)
		cert, roots := validatorCert(t, s, dir, "orders")
		exerciseProtected(t, s, w, startProtected(t, s, resourceserver.Credentials{Certificate: &cert}, s.mtlsAddr(t), roots, nil))
	})
	t.Run("client secret, NATS", func(t *testing.T) {
		s := start(t, t.TempDir())
		w := setupSDK(t, s)
		if s.creds.NATSURL == "" {
			t.Fatal("admin-credentials.json names no embedded NATS URL")
		}
		nc, err := nats.Connect(s.creds.NATSURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		exerciseProtected(t, s, w, startProtected(t, s, w.serviceSecret(), s.creds.GRPCAddr, nil, nc))
	})
}

// serviceSecret is the protected service's client credential.
func (w *sdkWorld) serviceSecret() resourceserver.Credentials {
	return resourceserver.Credentials{ClientID: w.service.ClientID, ClientSecret: w.service.ClientSecret}
}

// validatorCert issues a validator identity for name with the operator's
// command, and returns it with the platform CA.
func validatorCert(t *testing.T, s *server, dataDir, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command(binary, "service-cert", "--name", name, "--role", "validator", "--host", "localhost", "--out", out, "--data-dir", dataDir)
	cmd.Env = cleanEnv()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("service-cert: %v\n%s", err, b)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(out, name+".crt"), filepath.Join(out, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(out, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("ca.crt holds no certificate")
	}
	return cert, roots
}

// rotateCompromised runs an emergency rotation of kid, as an operator
// would.
func rotateCompromised(t *testing.T, s *server, kid string) {
	t.Helper()
	if out, err := s.cli(t, "keys", "rotate", "--compromised", kid); err != nil {
		t.Fatalf("keys rotate --compromised %s: %v\n%s", kid, err, out)
	}
}
