package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretComparisonsConstantTime runs the rule of checklist item 54 on
// the repository: secrets, keys and their digests are compared only in
// constant time.
func TestSecretComparisonsConstantTime(t *testing.T) {
	out, err := exec.Command("bash", "check-secret-compare.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("check-secret-compare.sh: %v\n%s", err, out)
	}
}

// TestSecretCompareScriptCatches: the rule finds what it is for, and
// lets through what it must, in a repository of its own.
func TestSecretCompareScriptCatches(t *testing.T) {
	script, err := filepath.Abs("check-secret-compare.sh")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, code string
		refused    bool
	}{
		{"== on a secret", "func f(secret, got string) bool { return secret == got }", true},
		{"!= on a hash", "func f(a, b [32]byte) bool { return a != b.Hash }", true},
		{"bytes.Equal", "func f(a, b []byte) bool { return bytes.Equal(a, b) }", true},
		{"== on an API key", "func f(apiKey, k string) bool { return apiKey == k }", true},
		{"constant time", "func f(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }", false},
		{"compared with empty", `func f(secret string) bool { return secret == "" }`, false},
		{"a length", "func f(secret []byte) bool { return len(secret) == 32 }", false},
		{"opted out", "func f(hashAlg, a string) bool { return hashAlg == a } // not-secret: an algorithm name", false},
		{"in a test file only", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			git := func(args ...string) {
				cmd := exec.Command("git", args...)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			git("init", "-q")
			file := "x.go"
			code := tt.code
			if code == "" {
				file, code = "x_test.go", "func f(secret, got string) bool { return secret == got }"
			}
			if err := os.WriteFile(filepath.Join(dir, file), []byte("package x\n\n"+code+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", script)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if refused := err != nil; refused != tt.refused {
				t.Fatalf("refused %v, want %v:\n%s", refused, tt.refused, out)
			}
		})
	}
}
