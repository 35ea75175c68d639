package token

import (
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadBodyIgnoresTheDeclaredLength: the declared length only sizes the
// buffer, so a body longer or shorter than declared, one of unknown length
// and one arriving a byte at a time are all read whole, and the 64 KiB
// limit still holds.
func TestReadBodyIgnoresTheDeclaredLength(t *testing.T) {
	body := "token=" + strings.Repeat("a", 700) + "&token_type_hint=access_token"
	tests := []struct {
		name     string
		r        io.Reader
		declared int64
	}{
		{"as declared", strings.NewReader(body), int64(len(body))},
		{"longer than declared", strings.NewReader(body), 10},
		{"shorter than declared", strings.NewReader(body), int64(len(body)) * 3},
		{"unknown length", strings.NewReader(body), -1},
		{"a byte at a time", iotest.OneByteReader(strings.NewReader(body)), int64(len(body))},
		{"empty", strings.NewReader(""), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := body
			if tc.name == "empty" {
				want = ""
			}
			got, err := readBody(tc.r, tc.declared)
			if err != nil || string(got) != want {
				t.Fatalf("got %d bytes, %v; want %d", len(got), err, len(want))
			}
		})
	}
	t.Run("over the limit", func(t *testing.T) {
		big := strings.Repeat("a", maxBodyBytes+1)
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(big))
		r.ContentLength = 100 // a lie: the limit, not the declared length, stops the read
		if _, err := readBody(http.MaxBytesReader(w, r.Body, maxBodyBytes), r.ContentLength); err == nil {
			t.Fatal("a body over the limit was read")
		}
	})
	t.Run("read error", func(t *testing.T) {
		if _, err := readBody(iotest.ErrReader(io.ErrUnexpectedEOF), 10); err == nil {
			t.Fatal("a read error was not returned")
		}
	})
}

// TestCacheKeyBothPaths: a key hashed from the stack (credentials within
// the request limits) is SHA-256(client_id || 0x00 || secret), as one
// hashed by streaming (longer ones), so the separator keeps "ab"+"c" and
// "a"+"bc" apart on both.
func TestCacheKeyBothPaths(t *testing.T) {
	want := func(id, secret string) cacheKey {
		return cacheKey(sha256.Sum256([]byte(id + "\x00" + secret)))
	}
	long := strings.Repeat("s", maxSecretLen+10)
	for _, c := range [][2]string{{"ab", "c"}, {"a", "bc"}, {"client", long}, {strings.Repeat("i", maxClientIDLen), strings.Repeat("s", maxSecretLen)}} {
		if got := newCacheKey(c[0], c[1]); got != want(c[0], c[1]) {
			t.Errorf("key of %.10q/%.10q is not SHA-256(id 0x00 secret)", c[0], c[1])
		}
	}
	if newCacheKey("ab", "c") == newCacheKey("a", "bc") {
		t.Error("the separator does not separate")
	}
}
