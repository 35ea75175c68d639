package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
}
