package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAdminAuditList: admin changes made with the CLI are read back with
// `gatehouse audit list`, by target and by actor, logged as admin_action
// events, and no secret they carried is in the trail or the logs.
func TestAdminAuditList(t *testing.T) {
	s := start(t, t.TempDir())
	if out, err := s.cli(t, "scopes", "create", "audit:e2e"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var c createdClient
	s.cliJSON(t, &c, "clients", "create", "--name", "Audited", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "audit:e2e")
	leaks.add("client secret", c.ClientSecret)
	if out, err := s.cli(t, "clients", "delete", c.ClientID); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := s.cli(t, "clients", "list"); err != nil { // a read: not recorded
		t.Fatalf("%v\n%s", err, out)
	}

	type action struct {
		Action        string   `json:"action"`
		ActorClientID string   `json:"actor_client_id"`
		ActorKeyName  string   `json:"actor_key_name"`
		Targets       []string `json:"targets"`
		Outcome       string   `json:"outcome"`
	}
	var all struct {
		Actions []action `json:"actions"`
	}
	s.cliJSON(t, &all, "audit", "list")
	var got []string
	for _, a := range all.Actions {
		got = append(got, a.Action[strings.LastIndexByte(a.Action, '/')+1:]+":"+a.Outcome)
		if a.ActorClientID != "gatehouse-admin" || a.ActorKeyName != "bootstrap admin key" {
			t.Fatalf("actor of %+v", a)
		}
	}
	// Newest first; the scopes the server seeds at start are not admin calls.
	if want := "DeleteClient:ok CreateClient:ok CreateScope:ok"; strings.Join(got, " ") != want {
		t.Fatalf("audit list: %v, want %s", got, want)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{"by target", []string{"--target", c.ClientID}, []string{"CreateClient", "DeleteClient"}, []string{"CreateScope"}},
		{"by actor", []string{"--actor", "gatehouse-admin", "--since", "1h"}, []string{"CreateScope", "CreateClient"}, nil},
		{"nobody", []string{"--actor", "nobody"}, []string{"No admin actions."}, []string{"CreateScope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.cli(t, append([]string{"audit", "list"}, tc.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("no %q in\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Fatalf("%q in\n%s", n, out)
				}
			}
		})
	}
	// A key minted beside the server, without it, is in the trail too.
	out, err := adminCreateKey(t, "--name", "night shift", "--data-dir", s.dataDir, "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var minted struct {
		APIKey string `json:"api_key"`
		KeyID  string `json:"key_id"`
	}
	if err := json.Unmarshal([]byte(out), &minted); err != nil {
		t.Fatal(err)
	}
	leaks.add("admin API key", minted.APIKey)
	out, err = s.cli(t, "audit", "list", "--target", minted.KeyID)
	if err != nil || !strings.Contains(out, "gatehouse admin create-key") || !strings.Contains(out, "ok") {
		t.Fatalf("the minted key's record: %v\n%s", err, out)
	}
	if _, err := s.cli(t, "audit", "list", "--since", "last week"); err == nil {
		t.Fatal("a nonsense --since was accepted")
	}
	if !strings.Contains(s.logs.String(), `"event":"admin_action"`) {
		t.Fatalf("no admin_action event in the logs:\n%s", s.logs)
	}
	if strings.Contains(s.logs.String(), c.ClientSecret) {
		t.Fatal("the client secret is in the logs")
	}
}
