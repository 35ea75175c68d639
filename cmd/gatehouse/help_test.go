package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCommandHelp: bench and service-cert print their help and refuse bad
// input as the admin commands do: help on stdout with exit 0, usage line,
// summary, then "Flags:"; an error as one "gatehouse: " line on stderr.
func TestCommandHelp(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		code    int
		wantOut []string // in order
		wantErr string   // the one stderr line contains it; "" for no stderr
	}{
		{"bench group", []string{"bench", "-h"}, 0, []string{"usage: gatehouse bench <command> [flags]", "Commands:", "  token  ", "  api  ", "  soak  ", "  scale  ", "Run 'gatehouse bench <command> -h'"}, ""},
		{"bench help", []string{"bench", "help"}, 0, []string{"usage: gatehouse bench <command> [flags]"}, ""},
		{"bench token", []string{"bench", "token", "-h"}, 0, []string{"usage: gatehouse bench token --client-id ID", "Drive /oauth2/token", "Flags:", "-client-id"}, ""},
		{"bench api", []string{"bench", "api", "--help"}, 0, []string{"usage: gatehouse bench api ", "Flags:", "-tokens"}, ""},
		{"bench soak", []string{"bench", "soak", "-h"}, 0, []string{"usage: gatehouse bench soak ", "Flags:", "-revocation-bound"}, ""},
		{"bench scale", []string{"bench", "scale", "-h"}, 0, []string{"usage: gatehouse bench scale [--sizes 10000,100000,1000000]", "Load each size", "Flags:", "-database-url", "-sizes"}, ""},
		{"bench mint", []string{"bench", "mint", "-h"}, 0, []string{"usage: gatehouse bench mint --client-id ID", "Get N access tokens", "Flags:", "-n"}, ""},
		{"bench mint without a client", []string{"bench", "mint"}, 2, nil, "bench mint needs --client-id, --client-secret"},
		{"bench bare", []string{"bench", "bare", "-h"}, 0, []string{"usage: gatehouse bench bare --issuer URL", "Serve the bare yardstick", "Flags:", "-addr"}, ""},
		{"bench bare off the machine", []string{"bench", "bare", "--client-secret", "s", "--addr", "192.0.2.1:80"}, 2, nil, "is not a loopback address"},
		{"bench scale bad sizes", []string{"bench", "scale", "--sizes", "10k"}, 2, nil, "bench scale needs --sizes as comma-separated numbers"},
		{"service-cert", []string{"service-cert", "-h"}, 0, []string{"usage: gatehouse service-cert <clients|", "       gatehouse service-cert --name N --role validator", "Issue a Gatehouse service's identity", "Flags:", "-validity"}, ""},
		{"service-cert after a name", []string{"service-cert", "token", "-h"}, 0, []string{"usage: gatehouse service-cert", "Flags:"}, ""},
		{"admin", []string{"admin", "-h"}, 0, []string{"usage: gatehouse admin create-key", "Commands:", "create-key"}, ""},
		{"admin create-key", []string{"admin", "create-key", "-h"}, 0, []string{"usage: gatehouse admin create-key --name NAME", "Mint an admin API key", "Flags:", "-scopes"}, ""},
		{"admin unknown command", []string{"admin", "delete-key"}, 2, nil, "admin: the command is create-key"},
		{"admin create-key bad flag", []string{"admin", "create-key", "--bogus"}, 2, nil, "admin create-key: flag provided but not defined: -bogus"},
		{"admin create-key without a name", []string{"admin", "create-key"}, 2, nil, "admin create-key: --name is required"},
		{"bench without a command", []string{"bench"}, 2, nil, "bench: missing command, one of token, api, soak, scale"},
		{"bench unknown command", []string{"bench", "load"}, 2, nil, `bench: unknown command "load"`},
		{"bench bad flag", []string{"bench", "soak", "--bogus"}, 2, nil, "bench soak: flag provided but not defined: -bogus (run 'gatehouse bench soak -h')"},
		{"service-cert bad flag", []string{"service-cert", "--validity", "soon"}, 2, nil, "service-cert: invalid value \"soon\" for flag -validity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			out := stdout.String()
			for _, w := range tc.wantOut {
				i := strings.Index(out, w)
				if i < 0 {
					t.Fatalf("stdout lacks %q (or has it out of order):\n%s", w, stdout.String())
				}
				out = out[i+len(w):]
			}
			if tc.wantErr == "" {
				if stderr.Len() > 0 {
					t.Errorf("stderr %q", stderr.String())
				}
				return
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout on failure: %q", stdout.String())
			}
			e := stderr.String()
			if !strings.HasPrefix(e, "gatehouse: ") || strings.Count(e, "\n") != 1 || !strings.Contains(e, tc.wantErr) {
				t.Errorf("stderr %q, want one 'gatehouse: ' line with %q", e, tc.wantErr)
			}
		})
	}
}
