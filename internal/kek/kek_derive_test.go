package kek

import (
	"bytes"
	"testing"
)

// TestDerive: a derived key depends on the KEK and the label, and is the
// same every time.
func TestDerive(t *testing.T) {
	a, err := New(bytes.Repeat([]byte{1}, Size))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(bytes.Repeat([]byte{2}, Size))
	if err != nil {
		t.Fatal(err)
	}
	x := a.Derive("device cookies")
	if len(x) != 32 || !bytes.Equal(x, a.Derive("device cookies")) {
		t.Fatalf("Derive is not a stable 32 bytes: %x", x)
	}
	for _, other := range [][]byte{a.Derive("another purpose"), b.Derive("device cookies")} {
		if bytes.Equal(x, other) {
			t.Error("two labels or two KEKs gave the same key")
		}
	}
}
