package clientcreds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// tokenServer issues tok-1, tok-2, ... to client "svc" with secret
// "s3cr:t" (sent form-encoded inside Basic, RFC 6749 §2.3.1).
func tokenServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "svc" || secret != "s3cr%3At" || r.FormValue("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad client"}`))
			return
		}
		n := fetches.Add(1)
		_, _ = fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":300}`, n)
	}))
	t.Cleanup(srv.Close)
	return srv, &fetches
}

func TestToken(t *testing.T) {
	srv, fetches := tokenServer(t)
	src := New(Config{TokenURL: srv.URL, ClientID: "svc", ClientSecret: "s3cr:t"})
	now := time.Now()
	src.now = func() time.Time { return now }
	ctx := context.Background()
	if tok, err := src.Token(ctx); err != nil || tok.AccessToken != "tok-1" {
		t.Fatalf("first token: %v %v", tok, err)
	}
	if tok, _ := src.Token(ctx); tok.AccessToken != "tok-1" || fetches.Load() != 1 {
		t.Fatalf("token not reused: %v after %d fetches", tok, fetches.Load())
	}
	now = now.Add(300*time.Second - RenewBefore + time.Second)
	if tok, _ := src.Token(ctx); tok.AccessToken != "tok-2" {
		t.Fatalf("token not renewed before expiry: %v", tok)
	}
	src.Invalidate("tok-1") // not the one held: kept
	if tok, _ := src.Token(ctx); tok.AccessToken != "tok-2" {
		t.Fatalf("a stale Invalidate dropped the current token: %v", tok)
	}
	src.Invalidate("tok-2")
	if tok, _ := src.Token(ctx); tok.AccessToken != "tok-3" {
		t.Fatalf("Invalidate did not force a fetch: %v", tok)
	}

	_, err := New(Config{TokenURL: srv.URL, ClientID: "svc", ClientSecret: "wrong"}).Token(ctx)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Code != "invalid_client" {
		t.Fatalf("refusal: %v", err)
	}
}

func TestTokenURLMustBeSecure(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://gatehouse.example/oauth2/token", true},
		{"http://127.0.0.1:1/oauth2/token", true},
		{"http://[::1]:1/oauth2/token", true},
		{"http://localhost:1/oauth2/token", true},
		{"http://gatehouse.example/oauth2/token", false},
		{"ftp://gatehouse.example/token", false},
		{"/oauth2/token", false},
	} {
		err := checkURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("checkURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

// refusingHealth answers Unauthenticated to every token but the ones in
// good, like a service after an emergency rotation revoked the token the
// caller holds.
type refusingHealth struct {
	healthpb.UnimplementedHealthServer
	mu   sync.Mutex
	good map[string]bool
	seen []string
}

func (h *refusingHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get("authorization")
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(auth) != 1 {
		return nil, status.Error(codes.Unauthenticated, "no token")
	}
	h.seen = append(h.seen, auth[0])
	if !h.good[auth[0]] {
		return nil, status.Error(codes.Unauthenticated, "revoked")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// TestRetryOnUnauthenticated: a call refused with Unauthenticated drops
// the token it carried and is retried once with a fresh one; a second
// refusal is returned.
func TestRetryOnUnauthenticated(t *testing.T) {
	tokens, fetches := tokenServer(t)
	h := &refusingHealth{good: map[string]bool{"Bearer tok-2": true}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, h)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()

	src := New(Config{TokenURL: tokens.URL, ClientID: "svc", ClientSecret: "s3cr:t"})
	conn, err := grpc.NewClient(lis.Addr().String(), append(src.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	if _, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("call after a refused token: %v", err)
	}
	if got := fetches.Load(); got != 2 {
		t.Fatalf("%d token fetches, want 2", got)
	}
	// tok-3 is refused too: one retry, then the refusal.
	h.mu.Lock()
	h.good = map[string]bool{}
	h.mu.Unlock()
	src.Invalidate("tok-2")
	_, err = hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("second refusal: %v", err)
	}
	if got := fetches.Load(); got != 4 {
		t.Fatalf("%d token fetches, want 4 (one retry per call)", got)
	}
}

// TestNoTokenInClear: without transport security the token goes to a
// loopback target only.
func TestNoTokenInClear(t *testing.T) {
	tokens, _ := tokenServer(t)
	src := New(Config{TokenURL: tokens.URL, ClientID: "svc", ClientSecret: "s3cr:t"})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	// The address is loopback, but the authority the call names is not:
	// as if the name resolved elsewhere.
	conn, err := grpc.NewClient(lis.Addr().String(), append(src.DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("gatehouse.example:443"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("token sent in clear to a non-loopback authority: %v", err)
	}
}
