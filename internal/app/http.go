package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/examples/spa"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Limits of the HTTP listener (SECURITY-CHECKLIST L 79).
const (
	maxBodyBytes      = 1 << 20
	maxHeaderBytes    = 32 << 10
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	// maxInFlight caps the requests one listener (HTTP or gRPC) works on
	// at once; past it a request is refused at once (503 + Retry-After,
	// gRPC Unavailable) instead of queueing without bound.
	maxInFlight = 1024
	// hstsMaxAge is one year (RFC 6797 §6.1.1), as browsers' preload lists
	// expect.
	hstsMaxAge = "max-age=31536000"
)

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           limitInFlight(h, maxInFlight),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

func (a *App) routes(metrics *prometheus.Registry) http.Handler {
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := a.ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.Handle("/v1/", limitBody(a.gateway.handler))
	if a.keys != nil {
		mux.Handle("GET /.well-known/jwks.json", a.keys.JWKSHandler())
	}
	if a.token != nil {
		a.token.Routes(mux)
	}
	if a.cfg.ExampleInventory {
		mux.Handle("GET "+spa.Path, spa.Handler())
	}
	return securityHeaders(mux, strings.HasPrefix(a.issuer, "https://"))
}

// limitInFlight refuses a request while n others are being served on the
// listener: 503 with Retry-After, so that a flood cannot pile up
// goroutines and memory behind a slow dependency.
func limitInFlight(next http.Handler, n int) http.Handler {
	sem := newSemaphore(n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sem.acquire() {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": 14, "message": "server busy"})
			return
		}
		defer sem.release()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies: a larger one fails to read, and the
// gateway answers 400 without reading the rest.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBodyBytes {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"code": 8, "message": "request body too large"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers of every response. HSTS (RFC 6797) goes
// on every response served over TLS, and on all of them when the issuer is
// https (TLS ends at a proxy in front): the login pages and the token
// endpoint are browser-facing (FAPI 2.0 SP §5.2).
func securityHeaders(next http.Handler, httpsIssuer bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		if httpsIssuer || r.TLS != nil {
			h.Set("Strict-Transport-Security", hstsMaxAge)
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
