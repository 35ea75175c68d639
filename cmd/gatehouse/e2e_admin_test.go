package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/k8ssecret/k8stest"
)

// adminCreateKey runs `gatehouse admin create-key` with args and returns
// stdout.
func adminCreateKey(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"admin", "create-key"}, args...)...)
	cmd.Env = cleanEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	leaks.collectJSON(out.Bytes())
	if err != nil {
		return out.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// TestAdminCreateKey: an operator mints admin keys in the store without
// going through the server (the bootstrap of a deployment whose
// credentials file cannot be read back, and the recovery of a lost key):
// on a store no server has used, and beside a running server, whose admin
// API then takes the key; the key is listed under its name.
func TestAdminCreateKey(t *testing.T) {
	t.Run("fresh store", func(t *testing.T) {
		dir := t.TempDir()
		out, err := adminCreateKey(t, "--name", "first operator", "--data-dir", dir, "-o", "json")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var m struct {
			APIKey   string   `json:"api_key"`
			KeyID    string   `json:"key_id"`
			ClientID string   `json:"client_id"`
			Name     string   `json:"name"`
			Scopes   []string `json:"scopes"`
		}
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m.APIKey, "gth_") || m.KeyID == "" || m.ClientID != "gatehouse-admin" || m.Name != "first operator" ||
			len(m.Scopes) != 1 || m.Scopes[0] != "gatehouse:admin" {
			t.Fatalf("output %s", out)
		}
	})

	t.Run("beside a running server", func(t *testing.T) {
		dir := t.TempDir()
		s := start(t, dir)
		creds := filepath.Join(t.TempDir(), "ops.json")
		out, err := adminCreateKey(t, "--name", "recovery", "--data-dir", dir, "--out", creds, "--grpc-addr", s.creds.GRPCAddr)
		if err != nil || !strings.Contains(out, "written to "+creds) || strings.Contains(out, "gth_") {
			t.Fatalf("%v\n%s", err, out)
		}
		info, err := os.Stat(creds)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("credentials file: %v %v", info, err)
		}
		cmd := exec.Command(binary, "apikeys", "list", "--client", "gatehouse-admin", "--credentials", creds, "-o", "json")
		cmd.Env = cleanEnv()
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), `"recovery"`) || !strings.Contains(string(b), "bootstrap admin key") {
			t.Fatalf("the minted key at the running server: %v\n%s", err, b)
		}
		if _, err := adminCreateKey(t, "--data-dir", dir); err == nil {
			t.Fatal("a key without a name was made")
		}

		// A support engineer's key reads and does not write.
		reader := filepath.Join(t.TempDir(), "support.json")
		if out, err := adminCreateKey(t, "--name", "support", "--scopes", "gatehouse:admin.read", "--data-dir", dir, "--out", reader, "--grpc-addr", s.creds.GRPCAddr); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		run := func(args ...string) (string, error) {
			cmd := exec.Command(binary, append(args, "--credentials", reader)...)
			cmd.Env = cleanEnv()
			b, err := cmd.CombinedOutput()
			return string(b), err
		}
		if out, err := run("clients", "list"); err != nil || !strings.Contains(out, "gatehouse-admin") {
			t.Fatalf("clients list with gatehouse:admin.read: %v\n%s", err, out)
		}
		if out, err := run("scopes", "create", "support:write"); err == nil || !strings.Contains(out, "insufficient_scope") && !strings.Contains(out, "permission") {
			t.Fatalf("scopes create with gatehouse:admin.read: %v\n%s", err, out)
		}
		if out, err := run("keys", "rotate"); err == nil {
			t.Fatalf("keys rotate with gatehouse:admin.read succeeded\n%s", out)
		}
		if out, err := adminCreateKey(t, "--name", "x", "--scopes", "gatehouse:internal", "--data-dir", dir); err == nil {
			t.Fatalf("an admin key with gatehouse:internal was made\n%s", out)
		}
	})
}

// TestRevocationsList: an admin reads the revocation list, all of it or
// one kind, in sequence order.
func TestRevocationsList(t *testing.T) {
	s := start(t, t.TempDir())
	for _, args := range [][]string{
		{"revoke", "api-key", "k-one", "--reason", "leaked"},
		{"revoke", "client", "c-two"},
		{"revoke", "api-key", "k-three"},
	} {
		if out, err := s.cli(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	var all struct {
		Entries []struct {
			Seq    string `json:"seq"`
			Kind   string `json:"kind"`
			ID     string `json:"id"`
			Reason string `json:"reason"`
		} `json:"entries"`
	}
	s.cliJSON(t, &all, "revocations", "list")
	var ids []string
	for _, e := range all.Entries {
		ids = append(ids, e.Kind+":"+e.ID)
	}
	if strings.Join(ids, " ") != "api-key:k-one client:c-two api-key:k-three" || all.Entries[0].Reason != "leaked" {
		t.Fatalf("revocations list: %+v", all.Entries)
	}
	out, err := s.cli(t, "revocations", "list", "--kind", "api-key", "--since", all.Entries[0].Seq)
	if err != nil || !strings.Contains(out, "k-three") || strings.Contains(out, "k-one") || strings.Contains(out, "c-two") {
		t.Fatalf("revocations list --kind api_key --since: %v\n%s", err, out)
	}
	if _, err := s.cli(t, "revocations", "list", "--kind", "nonsense"); err == nil {
		t.Fatal("an unknown kind was accepted")
	}
}

// TestAdminListenerCLI: with --admin-addr the CLI finds the admin listener
// in the credentials file and reaches it over TLS, verified with the CA
// file the server wrote; the same key sent to the public gRPC listener is
// refused there, and the CLI never sends it in plaintext off loopback.
func TestAdminListenerCLI(t *testing.T) {
	s := start(t, t.TempDir(), "--admin-addr", "127.0.0.1:0")
	var creds struct {
		AdminAddr   string `json:"admin_addr"`
		AdminCAFile string `json:"admin_ca_file"`
	}
	b, err := os.ReadFile(filepath.Join(s.dataDir, "admin-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &creds); err != nil || creds.AdminAddr == "" || creds.AdminCAFile == "" {
		t.Fatalf("credentials file without the admin listener: %v\n%s", err, b)
	}
	if out, err := s.cli(t, "scopes", "create", "orders:read"); err != nil {
		t.Fatalf("the CLI through the admin listener: %v\n%s", err, out)
	}
	if out, err := s.cli(t, "scopes", "list"); err != nil || !strings.Contains(out, "orders:read") {
		t.Fatalf("scopes list: %v\n%s", err, out)
	}
	out, err := s.cli(t, "scopes", "list", "--server", s.creds.GRPCAddr)
	if err == nil || !strings.Contains(err.Error(), "admin listener") {
		t.Fatalf("the admin key on the public gRPC listener: %v\n%s", err, out)
	}
	// TLS to the admin listener without its CA fails verification.
	if out, err := s.cli(t, "scopes", "list", "--server", creds.AdminAddr, "--tls"); err == nil {
		t.Fatalf("the admin listener verified against the system roots\n%s", out)
	}
	if out, err := s.cli(t, "scopes", "list", "--server", creds.AdminAddr, "--ca-file", filepath.Join(s.dataDir, creds.AdminCAFile)); err != nil {
		t.Fatalf("--server with --ca-file: %v\n%s", err, out)
	}

	// An operator's certificate from the platform CA, issued to the
	// admin client: the CLI calls with it alone, no API key anywhere.
	certFile, keyFile := issueCertificate(t, s, "gatehouse-admin", "operator")
	cmd := exec.Command(binary, "scopes", "list", "--server", creds.AdminAddr, "--ca-file", filepath.Join(s.dataDir, creds.AdminCAFile),
		"--client-cert", certFile, "--client-key", keyFile, "--credentials", filepath.Join(t.TempDir(), "none.json"))
	cmd.Env = cleanEnv()
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "orders:read") {
		t.Fatalf("the CLI with an admin certificate alone: %v\n%s", err, out)
	}
}

// TestAdminCreateKeyK8sSecret is the first-admin-key Job's command: in a
// pod, it makes the key only while the Secret does not exist, stores it
// there as admin-credentials.json and prints no key. The Kubernetes API is
// a fake (internal/k8ssecret/k8stest); the store is real.
func TestAdminCreateKeyK8sSecret(t *testing.T) {
	api, saDir, podEnv := k8stest.Start(t, "gatehouse", "job-token", "gatehouse-admin-credentials")
	old := serviceAccountDir
	serviceAccountDir = saDir
	t.Cleanup(func() { serviceAccountDir = old })
	dataDir := t.TempDir()
	s := start(t, dataDir) // beside a running server, as in a cluster
	run := func(args ...string) (string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := admin(context.Background(), append([]string{"create-key"}, args...), &out, &errOut, podEnv)
		return out.String() + errOut.String(), code
	}
	out, code := run("--name", "first operator", "--data-dir", dataDir, "--k8s-secret", "gatehouse-admin-credentials", "--grpc-addr", "clients:9090", "-o", "json")
	if code != 0 || strings.Contains(out, "gth_") || !strings.Contains(out, `"created": true`) {
		t.Fatalf("first run: %d\n%s", code, out)
	}
	var stored struct {
		APIKey   string `json:"api_key"`
		GRPCAddr string `json:"grpc_addr"`
	}
	if err := json.Unmarshal(api.Secret("gatehouse-admin-credentials")["admin-credentials.json"], &stored); err != nil ||
		!strings.HasPrefix(stored.APIKey, "gth_") || stored.GRPCAddr != "clients:9090" {
		t.Fatalf("the Secret: %v %+v", err, stored)
	}
	// Run again: nothing made, the Secret untouched.
	out, code = run("--name", "first operator", "--data-dir", dataDir, "--k8s-secret", "gatehouse-admin-credentials")
	if code != 0 || !strings.Contains(out, "exists: no key made") {
		t.Fatalf("second run: %d\n%s", code, out)
	}
	if keys := countKeys(t, s, "first operator"); keys != 1 {
		t.Fatalf("%d admin keys in the store after two runs, want 1", keys)
	}
	// Outside a pod, or forbidden by RBAC: an error, and no key.
	if out, code := run("--name", "x", "--data-dir", dataDir, "--k8s-secret", "other-name"); code == 0 || !strings.Contains(out, "forbidden") {
		t.Fatalf("a Secret the Role does not allow: %d\n%s", code, out)
	}
	var out2, errOut bytes.Buffer
	if code := admin(context.Background(), []string{"create-key", "--name", "x", "--data-dir", dataDir, "--k8s-secret", "s"}, &out2, &errOut, func(string) string { return "" }); code == 0 || !strings.Contains(errOut.String(), "not running in a Kubernetes pod") {
		t.Fatalf("outside a pod: %d %s", code, errOut.String())
	}
	if keys := countKeys(t, s, "first operator") + countKeys(t, s, "x"); keys != 1 {
		t.Fatalf("%d admin keys after the refusals, want 1", keys)
	}
}

// countKeys counts the admin client's API keys named name, through the
// running server.
func countKeys(t *testing.T, s *server, name string) int {
	t.Helper()
	out, err := s.cli(t, "apikeys", "list", "--client", "gatehouse-admin", "-o", "json")
	if err != nil {
		t.Fatalf("apikeys list: %v\n%s", err, out)
	}
	return strings.Count(out, `"`+name+`"`)
}
