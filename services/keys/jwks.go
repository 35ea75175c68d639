package keys

import (
	"net/http"
	"strings"
)

// JWKSHandler serves the JWKS at GET /.well-known/jwks.json (RFC 7517 §5):
// the prepared bytes with Cache-Control max-age, a strong ETag, and 304
// Not Modified for a matching If-None-Match (RFC 9110 §13.1.2). HEAD gets
// the same headers without the body. Before Start it answers 503.
func (m *Manager) JWKSHandler() http.Handler { return jwksHandler{m} }

type jwksHandler struct{ m *Manager }

func (h jwksHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s := h.m.snap.Load()
	if s == nil {
		hd.Set("Retry-After", "1")
		http.Error(w, "signing keys not loaded yet", http.StatusServiceUnavailable)
		return
	}
	// RFC 9110 §15.4.5: a 304 carries the Cache-Control and ETag a 200
	// would, so caches can refresh their copy.
	hd.Set("Cache-Control", h.m.cacheControl)
	hd.Set("Etag", s.etag)
	if noneMatch(r.Header.Values("If-None-Match"), s.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", s.contentLength)
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(s.jwks)
	}
}

// noneMatch reports whether an If-None-Match field (all its lines) lists
// etag or is "*". If-None-Match compares weakly (RFC 9110 §13.1.2,
// §8.8.3.2), so a W/ prefix is ignored. Tags are read quote to quote, as
// a comma may appear inside one; a malformed field matches nothing past
// the error, which only costs a full response.
func noneMatch(fields []string, etag string) bool {
	for _, f := range fields {
		for {
			f = strings.TrimLeft(f, " \t,")
			if f == "" {
				break
			}
			if f[0] == '*' {
				return true
			}
			f = strings.TrimPrefix(f, "W/")
			if f == "" || f[0] != '"' {
				break
			}
			end := strings.IndexByte(f[1:], '"')
			if end < 0 {
				break
			}
			if f[:end+2] == etag {
				return true
			}
			f = f[end+2:]
		}
	}
	return false
}
