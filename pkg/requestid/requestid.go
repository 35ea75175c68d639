// Package requestid carries the id of one request through its context, so
// that its log lines, its audit record and the response name the same id.
//
// An id a caller sends is taken only when it is well formed (Valid): it is
// echoed in the response and written to logs, so it must not carry control
// characters, quotes or unbounded length. Anything else is replaced by a
// fresh id, never echoed.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// Header is the HTTP header of the id, in requests and responses.
const Header = "X-Request-Id"

// Metadata is the gRPC metadata key of the id, in requests and in the
// response's header metadata.
const Metadata = "x-request-id"

// AltMetadata is the other metadata key callers use (Envoy, some gRPC
// clients); it is read, never written.
const AltMetadata = "request-id"

// MaxLen is the longest id taken from a caller.
const MaxLen = 128

// Valid reports whether id may be taken from a caller: 1 to MaxLen
// characters of A-Z, a-z, 0-9 and . _ : -, enough for UUIDs, ULIDs, trace
// ids and the ids of common proxies.
func Valid(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// New returns a fresh id: 16 random bytes in hex.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// OrNew returns id when it is Valid, a fresh one otherwise.
func OrNew(id string) string {
	if Valid(id) {
		return id
	}
	return New()
}

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the id ctx carries, or "".
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}
