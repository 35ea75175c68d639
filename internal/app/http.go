package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/examples/spa"
	"github.com/gatehouse-dev/gatehouse/internal/apidocs"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
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
		Handler:           withRequestID(limitInFlight(h, maxInFlight)),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

func (a *App) routes(metrics *prometheus.Registry) (http.Handler, error) {
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
	switch {
	case a.keys != nil:
		mux.Handle("GET /.well-known/jwks.json", a.keys.JWKSHandler())
	case a.jwks != nil:
		mux.Handle("GET /.well-known/jwks.json", a.jwks)
	}
	if a.token != nil {
		a.token.Routes(mux)
	}
	if a.cfg.ExampleInventory {
		mux.Handle("GET "+spa.Path, spa.Handler())
	}
	// The API description and its reference page (issue 17 §5), on every
	// process: each serves some of the API, and the document says which
	// credentials each operation takes.
	if err := apidocs.Routes(mux, a.issuer); err != nil {
		return nil, err
	}
	a.httpMetrics = newHTTPMetrics(metrics)
	return a.observeHTTP(mux), nil
}

// observeHTTP wraps a listener's routes in the metrics, tracing and
// security headers every HTTP listener has.
func (a *App) observeHTTP(mux *http.ServeMux) http.Handler {
	return a.httpMetrics.handler(traceHTTP(securityHeaders(notePattern(mux), strings.HasPrefix(a.issuer, "https://"))))
}

// httpMetrics are the per-route HTTP metrics, by the names dashboards
// query.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// unmatchedRoute is the route label of every request no route matched, so
// that scanners cannot grow the label set with paths of their own.
const unmatchedRoute = "unmatched"

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_server_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_server_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// withRequestID gives the request its id (the caller's X-Request-Id when
// well formed, a fresh one otherwise) and returns it in the response; a
// request refused as busy too.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestid.OrNew(r.Header.Get(requestid.Header))
		w.Header().Set(requestid.Header, id)
		next.ServeHTTP(w, r.WithContext(requestid.NewContext(r.Context(), id)))
	})
}

// handler counts the request under its route pattern, never its path.
func (m *httpMetrics) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := new(string)
		ctx := context.WithValue(r.Context(), routeKey{}, route)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		label := *route
		if label == "" {
			label = unmatchedRoute
		}
		method := methodLabel(r.Method, "OTHER")
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(label, method, strconv.Itoa(code)).Inc()
		m.duration.WithLabelValues(label, method).Observe(time.Since(start).Seconds())
	})
}

// notePattern hands the mux's route pattern to the handlers outside it:
// the mux sets Pattern on the request it was given, which is not theirs.
func notePattern(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if p, ok := r.Context().Value(routeKey{}).(*string); ok && *p == "" && r.Pattern != "" {
			*p = patternRoute(r.Pattern)
		}
	})
}

// statusWriter remembers the status code of the response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	// 1xx are interim (103 Early Hints): the final status follows.
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps the gateway's server streams flushing through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// methodLabel is m when it is a standard method, other otherwise: a label
// or a span name an attacker does not choose.
func methodLabel(m, other string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return other
}

// traceHTTP makes a server span of every request on the HTTP listeners
// (the plain one and the mTLS one), continuing a caller's trace. The span
// is named by method and route pattern (GET /oauth2/authorize, GET
// /v1/clients/{client_id=*}), never by the URL: a query may carry codes,
// state or, on error paths, tokens. otelhttp (v0.72) records the path
// (url.path) but neither the query nor any header; the route patterns hold
// no secrets, and the paths only identifiers.
func traceHTTP(next http.Handler) http.Handler {
	if !tracing.Enabled() {
		return next
	}
	h := otelhttp.NewHandler(routeSpan(next), "http", otelhttp.WithSpanNameFormatter(spanName))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Value(routeKey{}).(*string); ok {
			h.ServeHTTP(w, r)
			return
		}
		// Where the gateway leaves the REST route for spanName.
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, new(string))))
	})
}

type routeKey struct{}

// spanName is the span's name: the method alone before routing (otelhttp
// renames the span once the handler has run), then method and route.
func spanName(_ string, r *http.Request) string {
	route := ""
	if p, ok := r.Context().Value(routeKey{}).(*string); ok && *p != "" {
		route = *p
	} else if r.Pattern != "" {
		route = patternRoute(r.Pattern)
	}
	method := methodLabel(r.Method, "HTTP")
	if route == "" {
		return method
	}
	return method + " " + route
}

// routeSpan sets http.route on the request's span once the mux has chosen
// the route (otelhttp only knows it after the handler has run).
func routeSpan(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		span := trace.SpanFromContext(r.Context())
		if !span.IsRecording() {
			return
		}
		if p, ok := r.Context().Value(routeKey{}).(*string); ok && *p != "" {
			span.SetAttributes(semconv.HTTPRoute(*p))
		} else if r.Pattern != "" {
			span.SetAttributes(semconv.HTTPRoute(patternRoute(r.Pattern)))
		}
	})
}

// patternRoute is a ServeMux pattern without its method and host.
func patternRoute(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		pattern = path
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return pattern
}

// gatewayRoute is the gateway's middleware that hands the REST route of
// the request to spanName.
func gatewayRoute(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if p, ok := r.Context().Value(routeKey{}).(*string); ok {
			if pat, ok := runtime.HTTPPattern(r.Context()); ok {
				*p = pat.String()
			}
		}
		next(w, r, params)
	}
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
