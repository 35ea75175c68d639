package app

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// startApp starts the all-in-one server with extra flags, and returns it
// and the admin API key it wrote.
func startApp(t *testing.T, extra ...string) (*App, string) {
	t.Helper()
	args := []string{"--data-dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--mtls-addr", "127.0.0.1:0"}
	cfg, err := config.Load(append(args, extra...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	key := between(string(b), `"api_key": "`, `"`)
	if key == "" {
		t.Fatalf("no api_key in %s", CredentialsFile)
	}
	return a, key
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, to)
	return v
}

// Every RPC of every Gatehouse contract carries an auth rule.
func TestEveryRPCHasAnAuthRule(t *testing.T) {
	rules, err := authn.RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	// Other contracts linked in are not served behind the interceptors:
	// Envoy's ext_authz Authorization service runs on the authz listener,
	// whose callers are checked by address (--trusted-proxies), and each
	// of its requests is decided by the route rules.
	missing := slices.DeleteFunc(rules.Missing(), func(m string) bool { return !strings.HasPrefix(m, "/gatehouse.") })
	if len(missing) > 0 {
		t.Fatalf("RPCs without a (gatehouse.auth.v1.rule): %v", missing)
	}
	for _, m := range []string{
		clientsv1.ClientRegistryService_CreateClient_FullMethodName,
		clientsv1.ClientRegistryService_VerifyAPIKey_FullMethodName,
		"/gatehouse.keys.v1.KeyManagementService/GetJWKS",
		"/gatehouse.revocation.v1.RevocationService/Revoke",
		"/gatehouse.token.v1.TokenService/Introspect",
	} {
		if _, ok := rules.Lookup(m); !ok {
			ours = append(ours, m)
		}
	}
	if len(ours) > 0 {
		t.Fatalf("no rule found for %v", ours)
	}
}

func TestLimits(t *testing.T) {
	a, key := startApp(t)
	base := "http://" + a.HTTPAddr()

	t.Run("body over the limit is 413", func(t *testing.T) {
		body := strings.NewReader(`{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`)
		req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/v1/scopes", body)
		req.Header.Set("Authorization", "ApiKey "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
	})
	t.Run("header block over the limit is 431", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", base+"/v1/scopes", nil)
		req.Header.Set("X-Filler", strings.Repeat("a", 2*maxHeaderBytes))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})
	t.Run("REST without a credential is 401", func(t *testing.T) {
		resp, err := http.Get(base + "/v1/clients") //nolint:noctx // test
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="gatehouse"` {
			t.Fatalf("status %d, challenge %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		// Checklist item 80: a validator's answers carry Date and Content-Type.
		if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("Date %q, Content-Type %q", resp.Header.Get("Date"), resp.Header.Get("Content-Type"))
		}
	})
	t.Run("gRPC message over the limit is ResourceExhausted", func(t *testing.T) {
		conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "ApiKey "+key)
		_, err = clientsv1.NewClientRegistryServiceClient(conn).CreateScope(ctx, &clientsv1.CreateScopeRequest{
			Scope: &clientsv1.Scope{Name: "big", Description: strings.Repeat("a", maxRecvMsgSize)},
		})
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("err %v, want ResourceExhausted", err)
		}
	})
	t.Run("readiness", func(t *testing.T) {
		resp, err := http.Get(base + "/readyz") //nolint:noctx // test
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz %d", resp.StatusCode)
		}
	})
}

// TestSlowClients: clients dribbling their headers a byte at a time tie up
// neither the listener nor its other clients, and are cut off at
// readHeaderTimeout.
func TestSlowClients(t *testing.T) {
	a, _ := startApp(t)
	const slow = 32
	closed := make(chan time.Duration, slow)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), readHeaderTimeout+5*time.Second)
	defer cancel()
	for range slow {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", a.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		go func() {
			// Writes fail once the server has closed the connection.
			req := []byte("GET /healthz HTTP/1.1\r\nHost: gatehouse\r\nX-Slow: " + strings.Repeat("a", 1000))
			for _, b := range req {
				if _, err := conn.Write([]byte{b}); err != nil || ctx.Err() != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			closed <- time.Since(start)
		}()
	}
	// Meanwhile the listener serves everyone else at once.
	for range 5 {
		t0 := time.Now()
		resp, err := http.Get("http://" + a.HTTPAddr() + "/healthz") //nolint:noctx // test
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || time.Since(t0) > time.Second {
			t.Fatalf("a normal request beside %d slow clients: %d in %v", slow, resp.StatusCode, time.Since(t0))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for range slow {
		select {
		case d := <-closed:
			if d > readHeaderTimeout+3*time.Second {
				t.Fatalf("a slow client was cut off after %v, want about %v", d, readHeaderTimeout)
			}
		case <-ctx.Done():
			t.Fatalf("slow clients still connected after %v", readHeaderTimeout+5*time.Second)
		}
	}
}

// TestLimitInFlight: past the cap a request is refused at once with 503
// and Retry-After, and admitted again when one finishes.
func TestLimitInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := limitInFlight(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}), 2)
	srv := httptest.NewServer(h)
	defer srv.Close()
	done := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.Get(srv.URL + "/block") //nolint:noctx // test
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	<-entered
	<-entered
	resp, err := http.Get(srv.URL + "/") //nolint:noctx // test
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("third request: %d, Retry-After %q; want 503, 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close(release)
	for range 2 {
		if code := <-done; code != http.StatusOK {
			t.Fatalf("blocked request: %d", code)
		}
	}
	resp, err = http.Get(srv.URL + "/") //nolint:noctx // test
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the others finished: %d", resp.StatusCode)
	}
}

// TestHSTS: Strict-Transport-Security on every response over TLS, and on
// plain ones only when the issuer is https (TLS ended at a proxy).
func TestHSTS(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	tests := []struct {
		name        string
		httpsIssuer bool
		tls         bool
		want        string
	}{
		{"http issuer, plain", false, false, ""},
		{"http issuer, TLS", false, true, hstsMaxAge},
		{"https issuer, plain behind a proxy", true, false, hstsMaxAge},
		{"https issuer, TLS", true, true, hstsMaxAge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/oauth2/authorize", nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{HandshakeComplete: true}
			}
			w := httptest.NewRecorder()
			securityHeaders(ok, tt.httpsIssuer).ServeHTTP(w, r)
			if got := w.Header().Get("Strict-Transport-Security"); got != tt.want {
				t.Fatalf("Strict-Transport-Security %q, want %q", got, tt.want)
			}
		})
	}
}

// TestGRPCKeepaliveEnforcement: the server announces its cap on
// concurrent streams, and a client that pings more often than its
// keepalive policy allows is sent GOAWAY ENHANCE_YOUR_CALM and cut off, so
// pings cannot be used to keep the server busy.
func TestGRPCKeepaliveEnforcement(t *testing.T) {
	a, _ := startApp(t)
	var d net.Dialer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", a.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	// Pings without any stream open, far faster than the 10 s minimum.
	go func() {
		for i := range 50 {
			if fr.WritePing(false, [8]byte{byte(i)}) != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended without GOAWAY: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			// The per-connection stream cap is announced.
			if v, ok := sf.Value(http2.SettingMaxConcurrentStreams); !ok || v != maxConcurrentStreams {
				t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS %d (%v), want %d", v, ok, maxConcurrentStreams)
			}
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			if ga.ErrCode != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM", ga.ErrCode)
			}
			return
		}
	}
}

// TestRESTFacadeRefusals: what the fuzz targets found the REST facade
// letting through, refused with the right status.
func TestRESTFacadeRefusals(t *testing.T) {
	a, key := startApp(t)
	base := "http://" + a.HTTPAddr()
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"trailing data after the JSON body", "POST", "/v1/scopes", `{"name":"trailing:x"} garbage`, http.StatusBadRequest},
		{"two JSON values", "POST", "/v1/scopes", `{"name":"two:x"}{"name":"two:y"}`, http.StatusBadRequest},
		{"path not valid UTF-8", "GET", "/v1/clients/%FF", "", http.StatusBadRequest},
		{"query not valid UTF-8", "GET", "/v1/clients?page_token=%FF", "", http.StatusBadRequest},
		{"method the route does not serve", "PUT", "/v1/clients", `{}`, http.StatusMethodNotAllowed},
		{"one JSON value, white space around", "POST", "/v1/scopes", " {\"name\":\"fine:x\"}\n", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(context.Background(), tt.method, base+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "ApiKey "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s: %d, want %d: %s", tt.method, tt.path, resp.StatusCode, tt.want, b)
			}
		})
	}
}
