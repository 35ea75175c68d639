package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServiceCertFlags: service-cert's two forms, a built-in service by
// its positional name and a resource service by --name with --role
// validator, and its refusals, each one line.
func TestServiceCertFlags(t *testing.T) {
	dir := t.TempDir()
	data, out := filepath.Join(dir, "data"), filepath.Join(dir, "certs")
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		want  string // in stderr; "" for none
		files []string
	}{
		{"built-in, positional", []string{"token", "--host", "localhost"}, 0, "", []string{"token.crt", "token.key"}},
		{"built-in, --name", []string{"--name", "gateway", "--host", "localhost"}, 0, "", []string{"gateway.crt", "gateway.key"}},
		{"validator", []string{"--name", "orders", "--role", "validator", "--host", "orders.internal,10.0.0.7"}, 0, "", []string{"orders.crt", "orders.key"}},
		{"validator, positional", []string{"billing", "--role", "validator", "--host", "localhost"}, 0, "", []string{"billing.crt", "billing.key"}},
		{"no name", []string{"--host", "localhost"}, 2, "name the service", nil},
		{"two names", []string{"token", "--name", "gateway", "--host", "localhost"}, 2, "two names", nil},
		{"the same name twice", []string{"token", "--name", "token", "--host", "localhost"}, 0, "", []string{"token.crt"}},
		{"an argument after the flags", []string{"token", "--host", "localhost", "gateway"}, 2, `unexpected argument "gateway"`, nil},
		{"a resource service without the role", []string{"--name", "orders", "--host", "localhost"}, 2, "--role validator", nil},
		{"a built-in name with the role", []string{"--name", "keys", "--role", "validator", "--host", "localhost"}, 2, "is a Gatehouse service", nil},
		{"upper case", []string{"--name", "Orders", "--role", "validator", "--host", "localhost"}, 2, "invalid name", nil},
		{"a path", []string{"--name", "../orders", "--role", "validator", "--host", "localhost"}, 2, "invalid name", nil},
		{"too long", []string{"--name", strings.Repeat("o", 64), "--role", "validator", "--host", "localhost"}, 2, "invalid name", nil},
		{"an unknown role", []string{"--name", "orders", "--role", "internal", "--host", "localhost"}, 2, `unknown role "internal"`, nil},
		{"no host", []string{"--name", "orders", "--role", "validator"}, 1, "--host", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range tc.files {
				_ = os.Remove(filepath.Join(out, f))
			}
			var stdout, stderr bytes.Buffer
			args := append(append([]string{"service-cert"}, tc.args...), "--data-dir", data, "--out", out)
			code := run(args, strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			if tc.want == "" && stderr.Len() > 0 {
				t.Fatalf("stderr %q", stderr.String())
			}
			if tc.want != "" && (!strings.Contains(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1) {
				t.Fatalf("stderr %q, want one line with %q", stderr.String(), tc.want)
			}
			for _, f := range tc.files {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
		})
	}
}
