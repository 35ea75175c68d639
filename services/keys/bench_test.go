package keys_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/services/keys"
)

func benchManager(b *testing.B) *keys.Manager {
	b.Helper()
	stores, _ := openSQLite(b, 1)
	m := newManager(b, stores[0], newKEK(b), testOptions(newClock())...)
	start(b, m)
	// A pending key too, so the JWKS has the usual two keys.
	if _, err := m.Rotate(b.Context(), ""); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkSigningKey is the token service's per-token call: an atomic
// load, no store, no decryption.
func BenchmarkSigningKey(b *testing.B) {
	m := benchManager(b)
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.SigningKey(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkJWKSHandler(b *testing.B) {
	m := benchManager(b)
	h := m.JWKSHandler()
	_, etag, _ := m.JWKS()
	for _, bc := range []struct {
		name string
		inm  string
		want int
	}{
		{"200", "", http.StatusOK},
		{"304", etag, http.StatusNotModified},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
			if bc.inm != "" {
				req.Header.Set("If-None-Match", bc.inm)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != bc.want {
					b.Fatalf("%d, want %d", rec.Code, bc.want)
				}
			}
		})
	}
}
