package cli

import (
	"strings"
	"testing"
)

// TestKeys: keys list shows the active key; keys rotate makes a new one
// active; keys rotate --compromised removes the named key from the JWKS
// at once; keys retire removes a retired key early, with --force while
// its tokens may be valid.
func TestKeys(t *testing.T) {
	h, m := newCertsHarness(t)
	first := h.okJSON("keys", "list")
	keys, _ := first["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("keys list -o json: %v", first)
	}
	oldKID := str(t, keys[0].(map[string]any), "kid")
	if st := keys[0].(map[string]any)["state"]; st != "active" {
		t.Errorf("keys list -o json: state %v, want active as the text shows it", st)
	}
	if out := h.ok("keys", "list"); !strings.Contains(out, oldKID) || !strings.Contains(out, "active") {
		t.Fatalf("keys list:\n%s", out)
	}

	rotated := h.okJSON("keys", "rotate")
	newKID := str(t, rotated, "kid")
	if newKID == oldKID {
		t.Fatalf("keys rotate: %v", rotated)
	}

	out := h.ok("keys", "rotate", "--compromised", newKID)
	if !strings.Contains(out, "Key "+newKID+" removed") {
		t.Fatalf("keys rotate --compromised:\n%s", out)
	}
	jwks, _, _ := m.JWKS()
	if strings.Contains(string(jwks), newKID) {
		t.Fatalf("compromised key %s still in the JWKS", newKID)
	}
	if r := h.run("keys", "rotate", "--compromised", "no-such-kid"); r.code == 0 {
		t.Fatal("emergency rotation of an unknown kid succeeded")
	}

	// The emergency rotation retired the first key: it stays published
	// until its tokens have expired, unless forced out.
	r := h.run("keys", "retire", "--kid", oldKID)
	if r.code == 0 || !strings.Contains(r.stderr, "may be valid until") {
		t.Fatalf("keys retire within the retire period: %d\n%s", r.code, r.stderr)
	}
	if jwks, _, _ := m.JWKS(); !strings.Contains(string(jwks), oldKID) {
		t.Fatal("a refused retire removed the key")
	}
	if out := h.ok("keys", "retire", "--kid", oldKID, "--force"); !strings.Contains(out, "Key "+oldKID+" removed from the JWKS") {
		t.Fatalf("keys retire --force:\n%s", out)
	}
	if jwks, _, _ := m.JWKS(); strings.Contains(string(jwks), oldKID) {
		t.Fatalf("retired key %s still in the JWKS", oldKID)
	}
	if r := h.run("keys", "retire"); r.code == 0 || !strings.Contains(r.stderr, "--kid") {
		t.Fatalf("keys retire without --kid: %d %s", r.code, r.stderr)
	}
	for _, k := range h.okJSON("keys", "list")["keys"].([]any) {
		if k := k.(map[string]any); k["state"] == "active" {
			if r := h.run("keys", "retire", "--kid", str(t, k, "kid"), "--force"); r.code == 0 || !strings.Contains(r.stderr, "rotate first") {
				t.Fatalf("keys retire of the active key: %d %s", r.code, r.stderr)
			}
		}
	}
}
