package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/gatehouse-dev/gatehouse/internal/topology"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// splitRevocationBound is how soon after the token service acknowledges a
// revocation the split authorizer must refuse the token: the NATS event,
// with room for a loaded machine.
const splitRevocationBound = 5 * time.Second

// TestEndToEndSplitAuthz: `serve authz` in the split topology (its
// routes: the example API's) decides as the all-in-one authorizer does,
// with tokens from the token service checked against the key service's
// keys, API keys verified at the registry, and the revocation service's
// list; with the list out of contact it is not ready and refuses.
func TestEndToEndSplitAuthz(t *testing.T) {
	// A list out of contact for longer than this makes the authorizer
	// stale: short, so that the test sees it.
	staleness := 3 * time.Second
	topo := startTopologyWith(t, topology.Options{
		Replicas:  map[string]int{"token": 1, "gateway": 0, "inventory": 0, "authz": 1},
		Args:      []string{"--peer-timeout", "2s"},
		AuthzArgs: []string{"--revocation-max-staleness", staleness.String()},
	})
	authzProc := topo.Services["authz"][0]
	addr := authzProc.Authz
	registry := at(t, topo, topo.Services["clients"][0])
	tokenSrv := at(t, topo, topo.Services["token"][0])

	m := setupM2M(t, registry)
	m.s = tokenSrv
	readTok := m.token(t, m.reader, "inventory:read")
	var key createdKey
	registry.cliJSON(t, &key, "apikeys", "create", "--client", m.reader.ClientID, "--scopes", "inventory:read")

	c := m.reader.ClientID
	checkDecisions(t, addr, []decision{
		{"bearer with scope", forwarded{"GET", "/v1/inventory/items", bearer(readTok)}, 200, "", c, "bearer"},
		{"api key", forwarded{"GET", "/v1/inventory/items", map[string]string{"X-API-Key": key.APIKey}}, 200, "", c, "api_key"},
		{"no credential", forwarded{"GET", "/v1/inventory/items", nil}, 401, `Bearer realm="gatehouse"`, "", ""},
		{"garbage token", forwarded{"GET", "/v1/inventory/items", bearer("x.y.z")}, 401, `Bearer realm="gatehouse", error="invalid_token"`, "", ""},
		{"unknown api key", forwarded{"GET", "/v1/inventory/items", map[string]string{"X-API-Key": "gth_notakey"}}, 401, `Bearer realm="gatehouse"`, "", ""},
		{"wrong scope", forwarded{"POST", "/v1/inventory/items", bearer(readTok)}, 403, `Bearer realm="gatehouse", error="insufficient_scope", scope="inventory:write"`, "", ""},
	})

	t.Run("ext_authz", func(t *testing.T) {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ask := func(headers map[string]string) *authv3.CheckResponse {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
					Method: "GET", Path: "/v1/inventory/items", Host: "api.example.com", Headers: headers,
				}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		if ok := ask(map[string]string{"authorization": "Bearer " + readTok}); ok.GetStatus().GetCode() != 0 || ok.GetOkResponse() == nil {
			t.Fatalf("token with scope: %v", ok)
		}
		if none := ask(nil); codes.Code(none.GetStatus().GetCode()) != codes.Unauthenticated {
			t.Fatalf("no credential: %v", none)
		}
	})

	t.Run("revoked token", func(t *testing.T) {
		tok := m.token(t, m.reader, "inventory:read")
		took := refusedAfterRevocation(t, addr, tokenSrv, m.reader, "/v1/inventory/items", tok, splitRevocationBound)
		t.Logf("serve authz refused the revoked token %v after the revocation", took.Round(time.Millisecond))
	})

	t.Run("metrics", func(t *testing.T) {
		body := getBody(t, "http://"+authzProc.HTTP+"/metrics", 200)
		if !strings.Contains(body, "gatehouse_revocation_applied_seq") {
			t.Error("no revocation follower metrics")
		}
	})

	// Last: the revocation list out of contact (its service and NATS
	// gone), the authorizer must say it is not ready, and refuse rather
	// than decide on a list it cannot trust.
	t.Run("stale list", func(t *testing.T) {
		getBody(t, "http://"+authzProc.HTTP+"/readyz", 200)
		topo.Services["revocation"][0].Stop()
		for _, n := range topo.NATS {
			n.Stop()
		}
		stopped := time.Now()
		deadline := stopped.Add(staleness + 30*time.Second)
		read := forwarded{"GET", "/v1/inventory/items", bearer(readTok)}
		for check(t, addr, read).StatusCode != http.StatusServiceUnavailable {
			if time.Now().After(deadline) {
				t.Fatalf("a token still decided on %v after the revocation list lost contact", time.Since(stopped))
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("refused %v after the list lost contact", time.Since(stopped).Round(time.Millisecond))
		getBody(t, "http://"+authzProc.HTTP+"/readyz", http.StatusServiceUnavailable)
	})
}

// getBody fetches url and wants the status; it returns the body.
func getBody(t *testing.T, url string, want int) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, want, b)
	}
	return string(b)
}
