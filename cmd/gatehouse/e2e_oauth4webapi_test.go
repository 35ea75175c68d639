package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOAuth4WebAPINode runs e2e/oauth4webapi/dpop.test.mjs, Node's
// oauth4webapi v3 against the real binary: discovery, a pushed
// authorization request with a DPoP proof, the code with PKCE through the
// login page, the DPoP-bound token at the example API's REST facade (read
// and write; as Bearer and with another key's proof refused), and the
// refresh token bound to the key.
func TestOAuth4WebAPINode(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "e2e", "oauth4webapi"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		requireNode(t, "node is not installed: install Node.js 20 or later to run the oauth4webapi test")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oauth4webapi", "package.json")); err != nil {
		requireNode(t, "oauth4webapi is not installed: run `npm ci --no-audit --no-fund` in e2e/oauth4webapi")
	}

	s := start(t, t.TempDir(), "--example-inventory")
	const email, password = "dpop-node@example.test", "another long enough passphrase"
	s.createUser(t, email, password)
	const redirect = "http://127.0.0.1:53696/cb"
	var app createdClient
	s.cliJSON(t, &app, "clients", "create", "--name", "oauth4webapi app", "--type", "first_party", "--public",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", redirect,
		"--scopes", "inventory:read,inventory:write")

	secrets := filepath.Join(t.TempDir(), "secrets.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test-reporter=tap", "dpop.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(),
		"O4W_ISSUER=http://"+s.creds.HTTPAddr,
		"O4W_CLIENT_ID="+app.ClientID,
		"O4W_REDIRECT_URI="+redirect,
		"O4W_EMAIL="+email,
		"O4W_PASSWORD="+password,
		"O4W_SECRETS_FILE="+secrets,
	)
	begin := time.Now()
	out, err := cmd.CombinedOutput()
	if b, rerr := os.ReadFile(secrets); rerr == nil {
		leaks.collectJSON(b)
	}
	if err != nil {
		t.Fatalf("node dpop.test.mjs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# fail 0") {
		t.Fatalf("node dpop.test.mjs: no passing summary:\n%s", out)
	}
	t.Logf("oauth4webapi passed in %v:\n%s", time.Since(begin).Round(time.Millisecond), tapSummary(out))
}
