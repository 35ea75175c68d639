package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop/dpoptest"
)

// BenchmarkRESTRepeatedToken measures the example API through the REST
// facade (gateway, in-memory gRPC hop, interceptors, handler) with one
// token, in process: what the validated-token cache makes of a request.
func BenchmarkRESTRepeatedToken(b *testing.B) {
	a := startBenchApp(b)
	tok := benchToken(b, a)
	h := a.httpSrv.Handler
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/v1/inventory/items", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			serveOK(b, h, req, "")
		}
	})
}

// BenchmarkRESTDPoP compares, in one run, a request through the REST
// facade with a repeated bearer token and with a repeated DPoP-bound token
// and a fresh proof each time (made before the timer starts): the cost of
// a proof's verification and replay check at the resource (RFC 9449 §7).
func BenchmarkRESTDPoP(b *testing.B) {
	a := startBenchApp(b, "--dpop-token-nonce=false")
	h := a.httpSrv.Handler
	const target = "http://127.0.0.1/v1/inventory/items"
	bearer := benchToken(b, a)
	k := dpoptest.NewKey(b)
	bound := benchToken(b, a, k.Proof(b, http.MethodPost, a.issuer+"/oauth2/token", "", ""))
	serve := func(b *testing.B, scheme, tok, proof string) {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", scheme+" "+tok)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		serveOK(b, h, req, "")
	}
	b.Run("bearer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(b, "Bearer", bearer, "")
		}
	})
	b.Run("dpop", func(b *testing.B) {
		proofs := make([]string, 0, 4096)
		next := func() string {
			if len(proofs) == 0 {
				b.StopTimer()
				for range cap(proofs) {
					proofs = append(proofs, k.Proof(b, http.MethodGet, target, "", bound))
				}
				b.StartTimer()
			}
			p := proofs[len(proofs)-1]
			proofs = proofs[:len(proofs)-1]
			return p
		}
		b.ReportAllocs()
		for b.Loop() {
			serve(b, "DPoP", bound, next())
		}
	})
}

// startBenchApp starts the all-in-one server with the example API and a
// client budget no benchmark reaches, and extra flags.
func startBenchApp(b *testing.B, extra ...string) *App {
	b.Helper()
	cfg, err := config.Load(append([]string{"--data-dir", b.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--mtls-addr", "127.0.0.1:0",
		"--example-inventory", "--rate-limit-tiers", "standard=1000000:1000000"}, extra...), func(string) string { return "" }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	a, err := Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Shutdown)
	return a
}

// benchToken registers a client through the registry's gRPC API and gets
// a client-credentials token for it, bound to the key of a DPoP proof
// when one is given.
func benchToken(b *testing.B, a *App, dpopProof ...string) string {
	b.Helper()
	c := benchClient(b, a, &clientsv1.Client{
		Name: "bench", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"inventory:read"},
	})
	return issueBenchToken(b, a, c, "grant_type=client_credentials", dpopProof...)
}

func readAdminKey(a *App) (string, error) {
	b, err := os.ReadFile(filepath.Join(a.cfg.DataDir, CredentialsFile))
	if err != nil {
		return "", err
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return "", err
	}
	return c.APIKey, nil
}

// serveOK serves req in process with h and fails b unless the answer is
// 200 and its body begins with prefix. It is safe to call from the
// goroutines of RunParallel.
func serveOK(b *testing.B, h http.Handler, req *http.Request, prefix string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK || !bytes.HasPrefix(w.Body.Bytes(), []byte(prefix)) {
		b.Fatalf("%s %s: status %d: %s", req.Method, req.URL.Path, w.Code, w.Body)
	}
}
