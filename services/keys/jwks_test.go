package keys_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestJWKSHandler(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	clock := newClock()
	kk := newKEK(t)
	m := newManager(t, stores[0], kk, testOptions(clock)...)

	serve := func(method string, inm ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/.well-known/jwks.json", nil)
		for _, v := range inm {
			req.Header.Add("If-None-Match", v)
		}
		rec := httptest.NewRecorder()
		m.JWKSHandler().ServeHTTP(rec, req)
		return rec
	}

	if rec := serve(http.MethodGet); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("before Start: %d, want 503", rec.Code)
	}
	start(t, m)
	body, etag, _ := m.JWKS()

	t.Run("GET", func(t *testing.T) {
		rec := serve(http.MethodGet)
		h := rec.Header()
		if rec.Code != http.StatusOK || rec.Body.String() != string(body) {
			t.Fatalf("%d %q, want 200 and the JWKS", rec.Code, rec.Body)
		}
		want := map[string]string{
			"Content-Type":   "application/json",
			"Cache-Control":  "public, max-age=60",
			"ETag":           etag,
			"Content-Length": itoa(int64(len(body))),
		}
		for k, v := range want {
			if got := h.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || strings.HasPrefix(etag, "W/") {
			t.Errorf("ETag %s is not a strong entity tag", etag)
		}
	})

	t.Run("HEAD has the headers and no body", func(t *testing.T) {
		rec := serve(http.MethodHead)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag || rec.Header().Get("Content-Length") != itoa(int64(len(body))) {
			t.Fatalf("%d body %d bytes ETag %q", rec.Code, rec.Body.Len(), rec.Header().Get("ETag"))
		}
	})

	t.Run("other methods", func(t *testing.T) {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
			rec := serve(method)
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s: %d Allow %q, want 405 GET, HEAD", method, rec.Code, rec.Header().Get("Allow"))
			}
		}
	})

	opaque := strings.Trim(etag, `"`)
	conditional := []struct {
		name   string
		fields []string
		want   int
	}{
		{"exact tag", []string{etag}, http.StatusNotModified},
		{"weak form of the tag (weak comparison)", []string{"W/" + etag}, http.StatusNotModified},
		{"star", []string{"*"}, http.StatusNotModified},
		{"in a list", []string{`"old", ` + etag + `, "older"`}, http.StatusNotModified},
		{"in a list without spaces", []string{`"old",W/` + etag}, http.StatusNotModified},
		{"on a second header line", []string{`"old"`, etag}, http.StatusNotModified},
		{"after a tag with a comma inside", []string{`"a,b", ` + etag}, http.StatusNotModified},
		{"another tag", []string{`"other"`}, http.StatusOK},
		{"unquoted tag", []string{opaque}, http.StatusOK},
		{"tag as a prefix", []string{`"` + opaque[:10] + `"`}, http.StatusOK},
		{"tag with extra text", []string{`"` + opaque + `x"`}, http.StatusOK},
		{"malformed before the tag", []string{`garbage, ` + etag}, http.StatusOK},
		{"unterminated", []string{`"` + opaque}, http.StatusOK},
		{"empty", []string{""}, http.StatusOK},
	}
	for _, tt := range conditional {
		t.Run("If-None-Match "+tt.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				rec := serve(method, tt.fields...)
				if rec.Code != tt.want {
					t.Fatalf("%s: %d, want %d", method, rec.Code, tt.want)
				}
				if tt.want == http.StatusNotModified {
					if rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag || rec.Header().Get("Cache-Control") == "" {
						t.Errorf("304 with %d body bytes, ETag %q, Cache-Control %q", rec.Body.Len(), rec.Header().Get("ETag"), rec.Header().Get("Cache-Control"))
					}
				}
			}
		})
	}

	t.Run("ETag is stable while keys are unchanged and changes with them", func(t *testing.T) {
		if err := m.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		tick(t, m)
		body2, etag2, _ := m.JWKS()
		if etag2 != etag || string(body2) != string(body) {
			t.Fatal("JWKS changed without a key change")
		}
		// Another Manager on the same keys serves the same bytes: the
		// ETag works behind a load balancer.
		other := newManager(t, stores[0], kk, testOptions(clock)...)
		start(t, other)
		if body3, etag3, _ := other.JWKS(); etag3 != etag || string(body3) != string(body) {
			t.Error("two Managers on the same keys serve different JWKS")
		}
		if _, err := m.Rotate(t.Context(), ""); err != nil {
			t.Fatal(err)
		}
		_, etag3, _ := m.JWKS()
		if etag3 == etag {
			t.Fatal("ETag unchanged after a rotation")
		}
		if rec := serve(http.MethodGet, etag); rec.Code != http.StatusOK || rec.Header().Get("ETag") != etag3 {
			t.Errorf("old ETag: %d %s, want 200 with the new ETag", rec.Code, rec.Header().Get("ETag"))
		}
	})
}
