package loadgen

import (
	"context"
	"errors"
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
)

// tokenStub is a token endpoint that checks what the load generator sends
// and fails every fifth request.
type tokenStub struct {
	id, secret string
	n, bad     atomic.Int64
	conns      atomic.Int64
}

func (s *tokenStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, secret, ok := r.BasicAuth()
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	if r.Method != http.MethodPost || r.URL.Path != "/oauth2/token" || !ok || id != s.id || secret != s.secret ||
		r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || string(body) != "grant_type=client_credentials" {
		s.bad.Add(1)
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	switch s.n.Add(1) % 10 {
	case 0:
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":"invalid_request","error_description":"too many requests"}`, http.StatusTooManyRequests)
		return
	case 5:
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"access_token":"x","token_type":"Bearer","expires_in":600}`)
}

func newStub(t *testing.T) (*tokenStub, *httptest.Server) {
	t.Helper()
	stub := &tokenStub{id: "c_load", secret: "s:e%c+r&e=t"}
	srv := httptest.NewUnstartedServer(stub)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			stub.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return stub, srv
}

func TestRunTokenByRequests(t *testing.T) {
	stub, srv := newStub(t)
	res, err := RunToken(context.Background(), TokenConfig{
		URL: srv.URL + "/oauth2/token", ClientID: stub.id, ClientSecret: stub.secret, Concurrency: 4, Requests: 200,
	})
	if err != nil {
		t.Fatal(err)
	}
	if stub.bad.Load() != 0 {
		t.Fatalf("%d malformed requests reached the server", stub.bad.Load())
	}
	if res.Requests != 200 || res.OK != 160 || res.Failed != 40 || stub.n.Load() != 200 {
		t.Errorf("result %+v, server saw %d", res, stub.n.Load())
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Elapsed <= 0 {
		t.Errorf("latencies %+v", res)
	}
	// Keep-alive: connections are reused. The transport may dial a few
	// spares while the first connections are being set up, never one per
	// request.
	if c := stub.conns.Load(); c > 8 {
		t.Errorf("%d connections for 4 workers and 200 requests: keep-alive is not working", c)
	}
	if res.FailedBy["401"] != 20 || res.FailedBy["429"] != 20 || len(res.FailedBy) != 2 {
		t.Errorf("failures by status %v, want 20 401 and 20 429", res.FailedBy)
	}
	if s := res.String(); !strings.Contains(s, "ok/s") || !strings.Contains(s, "160 ok, 40 failed: 20 401, 20 429") || !strings.Contains(s, "p99") {
		t.Errorf("String() = %q", s)
	}
}

func TestRunTokenByDurationAndContext(t *testing.T) {
	stub, srv := newStub(t)
	cfg := TokenConfig{URL: srv.URL + "/oauth2/token", ClientID: stub.id, ClientSecret: stub.secret, Concurrency: 2, Duration: 200 * time.Millisecond}
	start := time.Now()
	res, err := RunToken(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 5*time.Second || res.Requests == 0 {
		t.Errorf("ran %s with %d requests", took, res.Requests)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	cfg.Duration = time.Hour
	start = time.Now()
	if _, err := RunToken(ctx, cfg); err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("the context did not end the run: %v after %s", err, time.Since(start))
	}
}

func TestRunTokenRefuses(t *testing.T) {
	ok := TokenConfig{URL: "http://127.0.0.1:1/oauth2/token", ClientID: "c", ClientSecret: "s", Requests: 1}
	tests := []struct {
		name     string
		edit     func(c *TokenConfig)
		loopback bool // the refusal is ErrNotLoopback
	}{
		{"a public host", func(c *TokenConfig) { c.URL = "https://auth.example.com/oauth2/token" }, true},
		{"a private address", func(c *TokenConfig) { c.URL = "http://10.0.0.1:8080/oauth2/token" }, true},
		{"the unspecified address", func(c *TokenConfig) { c.URL = "http://0.0.0.0:8080/oauth2/token" }, true},
		{"a name that merely starts with localhost", func(c *TokenConfig) { c.URL = "http://localhost.example.com/oauth2/token" }, true},
		{"no scheme", func(c *TokenConfig) { c.URL = "127.0.0.1:8080/oauth2/token" }, false},
		{"no credentials", func(c *TokenConfig) { c.ClientSecret = "" }, false},
		{"no bound", func(c *TokenConfig) { c.Requests = 0 }, false},
		{"negative concurrency", func(c *TokenConfig) { c.Concurrency = -1 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			_, err := RunToken(context.Background(), c)
			if err == nil {
				t.Fatal("accepted")
			}
			if errors.Is(err, ErrNotLoopback) != tc.loopback {
				t.Errorf("err %v: ErrNotLoopback %v, want %v", err, errors.Is(err, ErrNotLoopback), tc.loopback)
			}
		})
	}
	for _, u := range []string{"http://localhost:1/x", "http://[::1]:1/x", "http://127.0.0.2:1/x"} {
		if err := checkLoopbackURL(u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

func TestRunTokenDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			elsewhere.Add(1)
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	res, err := RunToken(context.Background(), TokenConfig{URL: srv.URL + "/oauth2/token", ClientID: "c", ClientSecret: "s", Requests: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 3 || elsewhere.Load() != 0 {
		t.Errorf("result %+v, redirects followed %d", res, elsewhere.Load())
	}
}

func TestRunAPICyclesTokens(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("Authorization")]++
		mu.Unlock()
		if r.Header.Get("Authorization") == "Bearer bad" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	res, err := RunAPI(context.Background(), APIConfig{URL: srv.URL, Tokens: []string{"a", "b", "bad", "c"}, Concurrency: 4, Requests: 400})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 400 || res.Failed != 100 || len(seen) != 4 {
		t.Fatalf("result %+v, tokens seen %v", res, seen)
	}
	if _, err := RunAPI(context.Background(), APIConfig{URL: "http://192.0.2.1/", Tokens: []string{"a"}, Requests: 1}); err == nil {
		t.Fatal("a non-loopback target was accepted")
	}
}
