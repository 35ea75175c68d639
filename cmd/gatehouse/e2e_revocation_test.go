package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// api calls the example inventory API over REST and gRPC with one
// credential header and returns both outcomes.
type api struct {
	s   *server
	inv inventoryv1.InventoryServiceClient
}

func newAPI(t *testing.T, s *server) *api {
	t.Helper()
	conn, err := grpc.NewClient(s.creds.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &api{s: s, inv: inventoryv1.NewInventoryServiceClient(conn)}
}

// call lists items with authorization as the Authorization header.
func (a *api) call(t *testing.T, authorization string) (restCode int, grpcCode codes.Code) {
	t.Helper()
	r := a.s.rest(t, "GET", "/v1/inventory/items", map[string]string{"Authorization": authorization}, "")
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", authorization)
	_, err := a.inv.ListItems(ctx, &inventoryv1.ListItemsRequest{})
	return r.code, status.Code(err)
}

// accepted and refused assert both faces at once.
func (a *api) accepted(t *testing.T, what, authorization string) {
	t.Helper()
	if rc, gc := a.call(t, authorization); rc != 200 || gc != codes.OK {
		t.Fatalf("%s: REST %d, gRPC %v; want accepted", what, rc, gc)
	}
}

// refusedSoon waits (bounded) until both faces refuse the credential as
// invalid, and reports how long it took.
func (a *api) refusedSoon(t *testing.T, what, authorization string) time.Duration {
	t.Helper()
	start := time.Now()
	var rc int
	var gc codes.Code
	for time.Since(start) < 3*time.Second {
		if rc, gc = a.call(t, authorization); rc == 401 && gc == codes.Unauthenticated {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: REST %d, gRPC %v after 3s; want 401 / Unauthenticated", what, rc, gc)
	return 0
}

// revokeRFC7009 posts to /oauth2/revoke as c.
func revokeRFC7009(t *testing.T, s *server, c createdClient, form string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "POST", "http://"+s.creds.HTTPAddr+"/oauth2/revoke", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestEndToEndRevocation revokes each kind of credential the running
// binary can issue, through RFC 7009 and the CLI, and sees it refused by
// the example API over REST and gRPC, and by introspection; the list
// survives a restart. It runs on the embedded default and on the real
// PostgreSQL and NATS.
func TestEndToEndRevocation(t *testing.T) {
	t.Run("sqlite, embedded NATS", func(t *testing.T) {
		t.Parallel()
		testRevocation(t)
	})
	t.Run("postgres, external NATS", func(t *testing.T) {
		t.Parallel()
		dbURL, natsURL := externalServices(t, "")
		testRevocation(t, "--database-url", dbURL, "--nats-url", natsURL)
	})
}

func testRevocation(t *testing.T, extra ...string) {
	dataDir := t.TempDir()
	args := append([]string{"--example-inventory"}, extra...)
	s := start(t, dataDir, args...)
	m := setupM2M(t, s)
	a := newAPI(t, s)

	meta := s.rest(t, "GET", "/.well-known/oauth-authorization-server", nil, "")
	if meta.body["revocation_endpoint"] != "http://"+s.creds.HTTPAddr+"/oauth2/revoke" {
		t.Fatalf("metadata revocation_endpoint: %v", meta.body["revocation_endpoint"])
	}

	var rs createdClient
	s.cliJSON(t, &rs, "clients", "create", "--name", "Platform introspector", "--type", "first_party",
		"--grant-types", "client_credentials", "--scopes", "gatehouse:introspect.all")
	active := func(tok string) bool {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+s.creds.HTTPAddr+"/oauth2/introspect", strings.NewReader("token="+tok))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rs.ClientID, rs.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out["active"] == true
	}

	// RFC 7009: the writer revokes its own token; the reader's is untouched,
	// and the reader cannot revoke the writer's.
	write := m.token(t, m.writer, "inventory:read")
	read := m.token(t, m.reader)
	a.accepted(t, "fresh writer token", "Bearer "+write)
	if code := revokeRFC7009(t, s, m.reader, "token="+write); code != 200 {
		t.Fatalf("foreign revocation: %d", code)
	}
	a.accepted(t, "writer token after the reader tried to revoke it", "Bearer "+write)
	if code := revokeRFC7009(t, s, m.writer, "token="+write+"&token_type_hint=access_token"); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	took := a.refusedSoon(t, "revoked access token", "Bearer "+write)
	t.Logf("RFC 7009 revocation refused by REST and gRPC after %v", took)
	if active(write) {
		t.Fatal("revoked token active at introspection")
	}
	a.accepted(t, "the other client's token", "Bearer "+read)

	// The admin REST API of the revocation service; not for a client.
	write3 := m.token(t, m.writer, "inventory:read")
	body := `{"kind":"KIND_ACCESS_TOKEN","id":"` + jwtClaims(t, write3)["jti"].(string) + `","reason":"e2e"}`
	if r := s.rest(t, "POST", "/v1/revocations", bearer(write3), body); r.code != 403 {
		t.Fatalf("a client revoking through the admin API: %d %s", r.code, r.rawBody)
	}
	r := s.rest(t, "POST", "/v1/revocations", apiKeyHeaderFor(s.creds.APIKey), body)
	if r.code != 200 {
		t.Fatalf("admin revoke over REST: %d %s", r.code, r.rawBody)
	}
	if entry, _ := r.body["entry"].(map[string]any); entry["seq"] == nil || entry["kind"] != "KIND_ACCESS_TOKEN" {
		t.Fatalf("revoke response %s", r.rawBody)
	}
	a.refusedSoon(t, "token revoked over the admin REST API", "Bearer "+write3)

	// API keys: through the registry (apikeys revoke) and straight into
	// the list (revoke api-key).
	var k1, k2 createdKey
	s.cliJSON(t, &k1, "apikeys", "create", "--client", m.reader.ClientID, "--scopes", "inventory:read")
	s.cliJSON(t, &k2, "apikeys", "create", "--client", m.reader.ClientID, "--scopes", "inventory:read")
	a.accepted(t, "API key 1", "ApiKey "+k1.APIKey)
	a.accepted(t, "API key 2", "ApiKey "+k2.APIKey)
	if _, err := s.cli(t, "apikeys", "revoke", "--client", m.reader.ClientID, "--key", k1.KeyID); err != nil {
		t.Fatal(err)
	}
	a.refusedSoon(t, "API key revoked in the registry", "ApiKey "+k1.APIKey)
	if _, err := s.cli(t, "revoke", "api-key", k2.KeyID, "--reason", "e2e"); err != nil {
		t.Fatal(err)
	}
	a.refusedSoon(t, "API key revoked in the list", "ApiKey "+k2.APIKey)
	// The registry agrees with the list: apikeys list shows it revoked.
	var listed struct {
		Keys []struct {
			KeyID   string `json:"key_id"`
			Revoked bool   `json:"revoked"`
		} `json:"keys"`
	}
	s.cliJSON(t, &listed, "apikeys", "list", "--client", m.reader.ClientID)
	for _, k := range listed.Keys {
		if k.KeyID == k2.KeyID && !k.Revoked {
			t.Fatalf("apikeys list shows the key revoke api-key revoked as not revoked: %+v", listed)
		}
	}

	// A client: every token and key it holds now is refused; a token
	// issued afterwards works (iat is in whole seconds, so wait past the
	// revocation's second).
	var k3 createdKey
	s.cliJSON(t, &k3, "apikeys", "create", "--client", m.reader.ClientID, "--scopes", "inventory:read")
	a.accepted(t, "API key 3", "ApiKey "+k3.APIKey)
	if _, err := s.cli(t, "revoke", "client", m.reader.ClientID); err != nil {
		t.Fatal(err)
	}
	a.refusedSoon(t, "token of a revoked client", "Bearer "+read)
	a.refusedSoon(t, "API key of a revoked client", "ApiKey "+k3.APIKey)
	time.Sleep(1100 * time.Millisecond)
	a.accepted(t, "token issued after the client revocation", "Bearer "+m.token(t, m.reader))

	// Disabling a client in the registry revokes what it holds.
	write2 := m.token(t, m.writer, "inventory:read")
	a.accepted(t, "writer token", "Bearer "+write2)
	if _, err := s.cli(t, "clients", "update", m.writer.ClientID, "--disabled=true"); err != nil {
		t.Fatal(err)
	}
	a.refusedSoon(t, "token of a disabled client", "Bearer "+write2)
	if active(write2) {
		t.Fatal("disabled client's token active at introspection")
	}

	// The list is the database's: a restarted process refuses the same.
	s.stop()
	s = start(t, dataDir, args...)
	a = newAPI(t, s)
	a.refusedSoon(t, "revoked access token after a restart", "Bearer "+write)
	a.refusedSoon(t, "revoked API key after a restart", "ApiKey "+k2.APIKey)
	a.refusedSoon(t, "disabled client's token after a restart", "Bearer "+write2)
	assertNoSecretsInLogs(t, s.logs.String(), []string{m.writer.ClientSecret, m.reader.ClientSecret, write, read, k1.APIKey, k2.APIKey, k3.APIKey})
}
