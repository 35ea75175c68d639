package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/resourceserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
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
	other   createdClient // inventory:read only
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
	s.cliJSON(t, &w.other, "clients", "create", "--name", "Inventory reader", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "inventory:read", "--resources", ordersAudience)
	s.cliJSON(t, &w.low, "clients", "create", "--name", "Slow reader", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "orders:read", "--resources", ordersAudience,
		"--rate-limit-tier", "low")
	var keyOwner createdClient
	s.cliJSON(t, &keyOwner, "clients", "create", "--name", "Key owner", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "orders:read")
	s.cliJSON(t, &w.key, "apikeys", "create", "--client", keyOwner.ClientID, "--scopes", "orders:read")
	s.cliJSON(t, &w.service, "clients", "create", "--name", "orders", "--type", "third_party", "--grant-types", "client_credentials", "--scopes", "gatehouse:internal")
	for _, c := range []createdClient{w.reader, w.other, w.low, keyOwner, w.service} {
		leaks.add("client secret", c.ClientSecret)
	}
	leaks.add("API key", w.key.APIKey)
	return w
}

// token gets a client-credentials token for the orders audience.
func (w *sdkWorld) token(t *testing.T, c createdClient) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {ordersAudience}}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+w.s.creds.HTTPAddr+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil || out.AccessToken == "" {
		t.Fatalf("token for %s: %d %s", c.ClientID, resp.StatusCode, body)
	}
	return out.AccessToken
}

// ordersService is a protected service as a team outside Gatehouse writes
// it: gRPC (the health service stands for its API) and HTTP, wired with
// resourceserver.New.
type ordersService struct {
	rs       *resourceserver.Server
	grpcAddr string
	httpURL  string
}

func startOrders(t *testing.T, w *sdkWorld, creds resourceserver.Credentials, gatehouse string) *ordersService {
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
		Issuer:      "http://" + w.s.creds.HTTPAddr,
		Audience:    ordersAudience,
		Service:     "orders",
		Rules:       rules,
		Gatehouse:   gatehouse,
		Credentials: creds,
		Insecure:    creds.Certificate == nil,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
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
	o := &ordersService{rs: rs, grpcAddr: gl.Addr().String(), httpURL: "http://" + hl.Addr().String()}
	deadline := time.Now().Add(10 * time.Second)
	for rs.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("orders not ready: %v", rs.Ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return o
}

// get calls GET /orders with header h and returns the status.
func (o *ordersService) get(t *testing.T, name, value string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, o.httpURL+"/orders", nil)
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

// check calls the gRPC API with the bearer token and returns the code.
func (o *ordersService) check(t *testing.T, tok string) codes.Code {
	t.Helper()
	conn, err := grpc.NewClient(o.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return status.Code(err)
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

// TestEndToEndResourceServerSDK protects a service with
// resourceserver.New against the binary, without NATS, and checks what a
// team adopting the SDK relies on: JWTs and API keys accepted, a wrong
// scope refused, a revocation applied within a second, an emergency key
// rotation survived (the service's own credential is renewed, tokens of
// the new key accepted at once) and the client's rate-limit tier applied.
func TestEndToEndResourceServerSDK(t *testing.T) {
	s := start(t, t.TempDir(), "--example-inventory")
	w := setupSDK(t, s)
	o := startOrders(t, w, resourceserver.Credentials{ClientID: w.service.ClientID, ClientSecret: w.service.ClientSecret}, s.creds.GRPCAddr)

	tok := w.token(t, w.reader)
	if st := o.get(t, "Authorization", "Bearer "+tok); st != http.StatusOK {
		t.Fatalf("JWT over HTTP: %d", st)
	}
	if c := o.check(t, tok); c != codes.OK {
		t.Fatalf("JWT over gRPC: %v", c)
	}
	if st := o.get(t, "X-API-Key", w.key.APIKey); st != http.StatusOK {
		t.Fatalf("API key: %d", st)
	}
	if st := o.get(t, "Authorization", "Bearer "+w.token(t, w.other)); st != http.StatusForbidden {
		t.Fatalf("wrong scope: %d, want 403", st)
	}
	if st := o.get(t, "", ""); st != http.StatusUnauthorized {
		t.Fatalf("no credential: %d, want 401", st)
	}

	t.Run("revocation without NATS", func(t *testing.T) {
		if _, err := s.cli(t, "revoke", "api-key", w.key.KeyID, "--reason", "test"); err != nil {
			t.Fatal(err)
		}
		took := within(t, time.Second, "revoked API key refused", func() bool {
			return o.get(t, "X-API-Key", w.key.APIKey) == http.StatusUnauthorized
		})
		t.Logf("API key revocation reached the service in %v", took)
	})

	t.Run("emergency rotation", func(t *testing.T) {
		kid, _ := jwtHeader(t, tok)["kid"].(string)
		rotateCompromised(t, s, kid)
		within(t, time.Second, "token of the compromised key refused", func() bool {
			return o.get(t, "Authorization", "Bearer "+tok) == http.StatusUnauthorized
		})
		fresh := w.token(t, w.reader)
		if k, _ := jwtHeader(t, fresh)["kid"].(string); k == kid {
			t.Fatalf("new token signed by the compromised key %s", kid)
		}
		took := within(t, time.Second, "token of the new key accepted", func() bool {
			return o.get(t, "Authorization", "Bearer "+fresh) == http.StatusOK
		})
		t.Logf("new key's token accepted %v after the rotation", took)
		// The service's own token was signed by the compromised key too:
		// its follower must renew it and stay fresh, so a revocation
		// made now still arrives.
		if _, err := s.cli(t, "revoke", "client", w.low.ClientID, "--reason", "after rotation"); err != nil {
			t.Fatal(err)
		}
		if err := o.rs.Ready(); err != nil {
			t.Fatalf("service not ready after the rotation: %v", err)
		}
	})

	t.Run("rate limit by tier", func(t *testing.T) {
		lowTok := w.token(t, w.low)
		var limited int
		for range 40 {
			if o.get(t, "Authorization", "Bearer "+lowTok) == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited == 0 {
			t.Fatal("40 requests of a low-tier client: none refused with 429")
		}
		hi := w.token(t, w.reader)
		for range 40 {
			if st := o.get(t, "Authorization", "Bearer "+hi); st != http.StatusOK {
				t.Fatalf("standard-tier client refused with %d", st)
			}
		}
	})
}

// rotateCompromised runs an emergency rotation of kid, as an operator
// would.
func rotateCompromised(t *testing.T, s *server, kid string) {
	t.Helper()
	if out, err := s.cli(t, "keys", "rotate", "--compromised", kid); err != nil {
		t.Fatalf("keys rotate --compromised %s: %v\n%s", kid, err, out)
	}
}
