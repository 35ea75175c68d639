package requestid

import (
	"context"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for _, id := range []string{"a", "0f3c9e2d-7b1a-4c55-9e0d-2f6a1b3c4d5e", "01HZX3.req:1_2", strings.Repeat("x", MaxLen)} {
		if !Valid(id) {
			t.Errorf("Valid(%q) = false", id)
		}
	}
	for _, id := range []string{"", strings.Repeat("x", MaxLen+1), "a b", "a\nb", `a"b`, "a/b", "é", "<script>"} {
		if Valid(id) {
			t.Errorf("Valid(%q) = true", id)
		}
	}
}

func TestNewAndContext(t *testing.T) {
	a, b := New(), New()
	if !Valid(a) || len(a) != 32 || a == b {
		t.Fatalf("New: %q, %q", a, b)
	}
	if got := OrNew("bad id"); got == "bad id" || !Valid(got) {
		t.Fatalf("OrNew kept a malformed id: %q", got)
	}
	if got := OrNew("good-id"); got != "good-id" {
		t.Fatalf("OrNew(good-id) = %q", got)
	}
	if FromContext(context.Background()) != "" {
		t.Fatal("id in an empty context")
	}
	if got := FromContext(NewContext(context.Background(), a)); got != a {
		t.Fatalf("FromContext = %q, want %q", got, a)
	}
}
