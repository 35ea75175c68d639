package cli

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeRevocations stands for the revocation service: the CLI's side is
// what is tested here; the service has its own tests.
type fakeRevocations struct {
	revocationv1.UnimplementedRevocationServiceServer
	mu  sync.Mutex
	seq int64
}

func (f *fakeRevocations) Revoke(_ context.Context, req *revocationv1.RevokeRequest) (*revocationv1.RevokeResponse, error) {
	if req.GetId() == "refuse-me" {
		return nil, status.Error(codes.InvalidArgument, "id: not allowed here")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	return &revocationv1.RevokeResponse{Entry: &revocationv1.Entry{
		Seq: f.seq, Kind: req.GetKind(), Id: req.GetId(), Reason: req.GetReason(),
		RevokeTime: timestamppb.Now(), ExpireTime: req.GetExpireTime(),
	}}, nil
}

func TestRevoke(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		kind    string
		want    revocationv1.Kind
		args    []string
		expires time.Duration // 0: never
		reason  string
	}{
		{"access-token", revocationv1.Kind_KIND_ACCESS_TOKEN, nil, time.Hour + 30*time.Second, "revoked with the gatehouse CLI"},
		{"refresh-family", revocationv1.Kind_KIND_REFRESH_FAMILY, []string{"--expires-in", "30d"}, 30 * 24 * time.Hour, "revoked with the gatehouse CLI"},
		{"api-key", revocationv1.Kind_KIND_API_KEY, []string{"--reason", "leaked in a paste"}, 0, "leaked in a paste"},
		{"client", revocationv1.Kind_KIND_CLIENT, nil, 0, "revoked with the gatehouse CLI"},
		{"subject", revocationv1.Kind_KIND_SUBJECT, []string{"--expires-in", "1h"}, time.Hour, "revoked with the gatehouse CLI"},
		{"certificate", revocationv1.Kind_KIND_CERTIFICATE, nil, 0, "revoked with the gatehouse CLI"},
		{"signing-key", revocationv1.Kind_KIND_SIGNING_KEY, nil, 70 * time.Minute, "revoked with the gatehouse CLI"},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			before := time.Now()
			out := h.okJSON(append([]string{"revoke", tc.kind, "id-" + tc.kind}, tc.args...)...)
			req, ok := h.lastRequest("Revoke").(*revocationv1.RevokeRequest)
			if !ok {
				t.Fatal("no Revoke request reached the server")
			}
			if req.GetKind() != tc.want || req.GetId() != "id-"+tc.kind || req.GetReason() != tc.reason {
				t.Fatalf("request %v", req)
			}
			switch {
			case tc.expires == 0 && req.GetExpireTime() != nil:
				t.Errorf("expire_time %v, want none", req.GetExpireTime().AsTime())
			case tc.expires > 0:
				got := req.GetExpireTime().AsTime()
				if got.Before(before.Add(tc.expires)) || got.After(time.Now().Add(tc.expires)) {
					t.Errorf("expire_time %v, want now+%v", got, tc.expires)
				}
			}
			// The kind as the revoke command names it, not the proto enum.
			if str(t, out, "id") != "id-"+tc.kind || out["seq"] == nil || out["kind"] != tc.kind {
				t.Errorf("JSON output %v", out)
			}
		})
	}
	text := h.ok("revoke", "client", "c_123")
	for _, w := range []string{"Revoked client c_123.", "seq", "expire_time", "never"} {
		if !strings.Contains(text, w) {
			t.Errorf("output lacks %q:\n%s", w, text)
		}
	}
	assertFailed(t, h.run("revoke", "client"), exitError, "missing CLIENT_ID")
	assertFailed(t, h.run("revoke", "session", "x"), exitError, "unknown command")
	assertFailed(t, h.run("revoke", "client", "refuse-me"), exitError, "not allowed here")
	assertFailed(t, h.run("revoke", "client", "x", "--expires-in", "0"), exitFlags, "must be positive")
}

func TestCertsRevoke(t *testing.T) {
	h := newHarness(t)
	out := h.ok("certs", "revoke", "--serial", "ABC123", "--reason", "key lost")
	req, ok := h.lastRequest("Revoke").(*revocationv1.RevokeRequest)
	if !ok || req.GetKind() != revocationv1.Kind_KIND_CERTIFICATE || req.GetId() != "abc123" || req.GetReason() != "key lost" {
		t.Fatalf("request %v", req)
	}
	if exp := time.Until(req.GetExpireTime().AsTime()); exp < 89*24*time.Hour || exp > 91*24*time.Hour {
		t.Errorf("entry expires in %v, want the longest certificate validity (90 days)", exp)
	}
	if !strings.Contains(out, "Revoked certificate abc123.") {
		t.Errorf("output %q", out)
	}
	assertFailed(t, h.run("certs", "revoke"), exitError, "--serial is required")
}

// TestRevokeAPIKeyInRegistry: `revoke api-key` makes the registry agree
// with the revocation list, so `apikeys list` shows the key revoked.
func TestRevokeAPIKeyInRegistry(t *testing.T) {
	tests := []struct {
		name string
		// args follow `revoke api-key <key>`; {client} and {other} are
		// replaced with the owner's and another client's IDs.
		args      []string
		key       string // "" : the owner's key
		wantOwner bool
		wantErr   string
	}{
		{name: "owner found by listing", wantOwner: true},
		{name: "owner given", args: []string{"--client", "{client}"}, wantOwner: true},
		{name: "key no client holds", key: "k_nobodys0000000000000", wantOwner: false},
		{name: "wrong client given", args: []string{"--client", "{other}"}, wantErr: "the revocation list refuses it, but the registry still lists it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			mk := func(name string) string {
				return str(t, h.okJSON("clients", "create", "--name", name, "--type", "third_party",
					"--grant-types", "client_credentials", "--scopes", "orders:read"), "client_id")
			}
			other, client := mk("Other"), mk("Owner")
			h.ok("apikeys", "create", "--client", other, "--scopes", "orders:read")
			ownerKey := str(t, h.okJSON("apikeys", "create", "--client", client, "--scopes", "orders:read"), "key_id")
			key := ownerKey
			if tc.key != "" {
				key = tc.key
			}
			args := []string{"revoke", "api-key", key}
			for _, a := range tc.args {
				args = append(args, strings.NewReplacer("{client}", client, "{other}", other).Replace(a))
			}
			if tc.wantErr != "" {
				assertFailed(t, h.run(args...), exitError, tc.wantErr, "apikeys revoke")
			} else {
				out := h.okJSON(args...)
				wantClient := ""
				if tc.wantOwner {
					wantClient = client
				}
				if out["client_id"] != wantClient || out["kind"] != "api-key" || out["id"] != key {
					t.Errorf("revoke api-key -o json: %v, want client_id %q", out, wantClient)
				}
			}
			// The list entry is made whatever the registry says.
			if req, ok := h.lastRequest("Revoke").(*revocationv1.RevokeRequest); !ok || req.GetId() != key || req.GetKind() != revocationv1.Kind_KIND_API_KEY {
				t.Errorf("revocation list request %v", req)
			}
			list := h.ok("apikeys", "list", "--client", client)
			status := "revoked"
			if !tc.wantOwner {
				status = "active"
			}
			found := false
			for _, line := range strings.Split(list, "\n") {
				if f := strings.Fields(line); len(f) > 1 && f[0] == ownerKey {
					found = true
					if f[1] != status {
						t.Errorf("apikeys list: %q, want %s", line, status)
					}
				}
			}
			if !found {
				t.Errorf("apikeys list lacks %s:\n%s", ownerKey, list)
			}
			if !strings.Contains(h.ok("apikeys", "list", "--client", other), "active") {
				t.Error("another client's key was revoked")
			}
		})
	}
	h := newHarness(t)
	text := h.ok("revoke", "api-key", "k_nobodys0000000000000")
	if !strings.Contains(text, "No client of the registry holds this key") || kvValue(text, "client_id") != "-" {
		t.Errorf("revoke api-key of an unknown key:\n%s", text)
	}
}
