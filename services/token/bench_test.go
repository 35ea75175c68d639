package token_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/loadgen"
)

// BenchmarkIssueToken is the token endpoint's handler in process, ES256,
// on the hot path: form parsing, Basic decoding, a verification-cache hit,
// claims, signature and the JSON response, with no network.
//
//	go test -run '^$' -bench IssueToken -benchmem ./services/token/
func BenchmarkIssueToken(b *testing.B) {
	e := newEnv(b, withUnlimitedClients())
	mux := http.NewServeMux()
	e.svc.Routes(mux)
	authz := basicHeader(e.partner.id, e.partner.secret)
	const body = "grant_type=client_credentials&scope=orders%3Aread"
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, e.issuer+"/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", authz)
		return r
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req())
	if w.Code != http.StatusOK {
		b.Fatalf("%d %s", w.Code, w.Body)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req())
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, req())
				if w.Code != http.StatusOK {
					b.Error(w.Code)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
}

// BenchmarkTokenEndpointHTTP drives the token endpoint over real loopback
// HTTP/1.1 with keep-alive from parallel clients, in the same process (the
// clients' CPU counts against the server's).
//
//	go test -run '^$' -bench TokenEndpointHTTP -benchmem ./services/token/
func BenchmarkTokenEndpointHTTP(b *testing.B) {
	e := newEnv(b, withUnlimitedClients())
	const parallelism = 8 // goroutines per GOMAXPROCS
	tr := &http.Transport{MaxIdleConnsPerHost: parallelism * runtime.GOMAXPROCS(0), MaxIdleConns: 1000}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	authz := basicHeader(e.partner.id, e.partner.secret)
	url := e.svc.Endpoints().Token
	const body = "grant_type=client_credentials&scope=orders%3Aread"
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", authz)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkTokenEndpointLoadgen is the issue's throughput target measured
// as `gatehouse bench token` will: internal/loadgen over real loopback
// HTTP with client_secret_basic, in the same process as the server.
//
//	go test -run '^$' -bench TokenEndpointLoadgen -benchtime 100000x ./services/token/
func BenchmarkTokenEndpointLoadgen(b *testing.B) {
	for _, conc := range []int{8, 32} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			e := newEnv(b, withUnlimitedClients())
			b.ResetTimer()
			res, err := loadgen.RunToken(context.Background(), loadgen.TokenConfig{
				URL: e.svc.Endpoints().Token, ClientID: e.partner.id, ClientSecret: e.partner.secret,
				Concurrency: conc, Requests: b.N,
			})
			if err != nil {
				b.Fatal(err)
			}
			if res.Failed != 0 {
				b.Fatalf("%d failed: %s", res.Failed, res)
			}
			b.ReportMetric(float64(res.OK)/res.Elapsed.Seconds(), "tokens/s")
			b.ReportMetric(float64(res.P50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(res.P99.Microseconds()), "p99-µs")
		})
	}
}
