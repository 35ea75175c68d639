package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/benchbare"
	"github.com/gatehouse-dev/gatehouse/services/token"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// introspectPoolSize is how many distinct tokens the introspection
// benchmarks cycle through, every one validated once before the timer.
const introspectPoolSize = 1000

// BenchmarkIntrospect is RFC 7662 introspection of tokens seen before by a
// resource server in the internal tier (gatehouse:introspect, its own
// resource), beside the yardstick (internal/benchbare's GET /cached): a
// bare net/http handler that validates the same tokens as bearer tokens
// with a validated-token cache and answers a little JSON.
//
//	go test -run '^$' -bench Introspect -benchmem ./internal/app/
func BenchmarkIntrospect(b *testing.B) {
	a := startBenchApp(b, "--rate-limit-tiers", "standard=1000000:1000000,internal=1000000000:1000000000")
	const resource = "https://inventory.bench.example"
	issuer := benchClient(b, a, &clientsv1.Client{
		Name: "bench issuer", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"inventory:read"}, Resources: []string{resource},
	})
	rs := benchClient(b, a, &clientsv1.Client{
		Name: "bench resource server", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{token.ScopeIntrospect}, Resources: []string{resource},
		RateLimitTier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_INTERNAL,
	})
	pool := make([]string, introspectPoolSize)
	for i := range pool {
		pool[i] = issueBenchToken(b, a, issuer, "grant_type=client_credentials&resource="+resource)
	}
	h := a.httpSrv.Handler
	introspect := func(b *testing.B, tok string) {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/introspect", strings.NewReader("token="+tok))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rs.id, rs.secret)
		serveOK(b, h, req, `{"active":true`)
	}
	for _, tok := range pool {
		introspect(b, tok)
	}

	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			introspect(b, pool[i%len(pool)])
			i++
		}
	})

	jwks, err := benchbare.FetchJWKS(context.Background(), "http://"+a.HTTPAddr()+"/.well-known/jwks.json")
	if err != nil {
		b.Fatal(err)
	}
	bare, err := benchbare.Handler(benchbare.Config{Issuer: a.issuer, Audience: resource, JWKS: jwks})
	if err != nil {
		b.Fatal(err)
	}
	validate := func(b *testing.B, tok string) {
		req := httptest.NewRequest(http.MethodGet, "/cached", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		serveOK(b, bare, req, `{"items":[]}`)
	}
	for _, tok := range pool {
		validate(b, tok)
	}
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			validate(b, pool[i%len(pool)])
			i++
		}
	})

	b.Run("loopback", func(b *testing.B) {
		const parallelism = 4 // goroutines per GOMAXPROCS
		tr := &http.Transport{MaxIdleConnsPerHost: parallelism * runtime.GOMAXPROCS(0), MaxIdleConns: 1000}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		url := "http://" + a.HTTPAddr() + "/oauth2/introspect"
		var next atomic.Uint64
		b.SetParallelism(parallelism)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var buf bytes.Buffer
			for pb.Next() {
				tok := pool[next.Add(1)%uint64(len(pool))]
				req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader("token="+tok))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(rs.id, rs.secret)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				buf.Reset()
				_, _ = io.Copy(&buf, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(buf.Bytes(), []byte(`{"active":true`)) {
					b.Errorf("introspect: %d %s", resp.StatusCode, buf.Bytes())
					return
				}
			}
		})
	})
}

type benchRegistered struct{ id, secret string }

// benchClient registers c through the registry's gRPC API with the admin
// key.
func benchClient(b *testing.B, a *App, c *clientsv1.Client) benchRegistered {
	b.Helper()
	raw, err := readAdminKey(a)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "ApiKey "+raw)
	resp, err := clientsv1.NewClientRegistryServiceClient(conn).CreateClient(ctx, &clientsv1.CreateClientRequest{Client: c})
	if err != nil {
		b.Fatal(err)
	}
	return benchRegistered{resp.GetClient().GetClientId(), resp.GetClientSecret()}
}

// issueBenchToken gets an access token for c at the token endpoint, in
// process.
func issueBenchToken(b *testing.B, a *App, c benchRegistered, form string, dpopProof ...string) string {
	b.Helper()
	req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.id, c.secret)
	for _, p := range dpopProof {
		req.Header.Set("DPoP", p)
	}
	w := httptest.NewRecorder()
	a.httpSrv.Handler.ServeHTTP(w, req)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.AccessToken == "" {
		b.Fatalf("token: %d %s", w.Code, w.Body)
	}
	return out.AccessToken
}
