package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop/dpoptest"
	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// dpopPost posts form to u with a proof by k, taking the server's
// use_dpop_nonce round trip when it asks for one.
// With basicAuth (client_id and secret) it authenticates the client so.
func dpopPost(t *testing.T, u string, form url.Values, k *dpoptest.Key, basicAuth ...string) (int, map[string]any) {
	t.Helper()
	post := func(nonce string) (int, http.Header, map[string]any) {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if len(basicAuth) == 2 {
			req.SetBasicAuth(url.QueryEscape(basicAuth[0]), url.QueryEscape(basicAuth[1]))
		}
		req.Header.Set("DPoP", k.Proof(t, "POST", u, nonce, ""))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body := map[string]any{}
		_ = json.Unmarshal(b, &body)
		return resp.StatusCode, resp.Header, body
	}
	code, h, body := post("")
	if code == http.StatusBadRequest && body["error"] == "use_dpop_nonce" {
		code, _, body = post(h.Get("DPoP-Nonce"))
	}
	return code, body
}

// seedItem adds an item to the example API through its REST facade with a
// DPoP-bound client_credentials token: the write methods take no bearer
// token.
func seedItem(t *testing.T, s *server, m *m2m, name string, quantity int) {
	t.Helper()
	base := "http://" + s.creds.HTTPAddr
	k := dpoptest.NewKey(t)
	code, body := dpopPost(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"inventory:write"}}, k,
		m.writer.ClientID, m.writer.ClientSecret)
	tok, _ := body["access_token"].(string)
	if code != http.StatusOK || tok == "" {
		t.Fatalf("DPoP token for the seed: %d %v", code, body)
	}
	leaks.add("access token", tok)
	item, _ := json.Marshal(map[string]any{"name": name, "quantity": quantity})
	r := s.rest(t, "POST", "/v1/inventory/items", map[string]string{"Authorization": "DPoP " + tok,
		"DPoP": k.Proof(t, "POST", base+"/v1/inventory/items", "", tok)}, string(item))
	if r.code != http.StatusOK {
		t.Fatalf("seed item: %d %s", r.code, r.rawBody)
	}
}

// TestEndToEndPAR: a public client registered with
// --require-pushed-authorization-requests pushes its request with a DPoP
// proof (RFC 9126, RFC 9449 §10.1), signs the user in by reference, and
// writes to the example API with its DPoP-bound token, which the write
// methods require; the request_uri is single use.
func TestEndToEndPAR(t *testing.T) {
	s := start(t, t.TempDir(), "--example-inventory")
	const email, password = "par@example.test", "correct horse battery staple"
	s.createUser(t, email, password)
	var app createdClient
	s.cliJSON(t, &app, "clients", "create", "--name", "PAR app", "--type", "first_party", "--public",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", "http://127.0.0.1:1/callback",
		"--scopes", "inventory:read,inventory:write", "--require-pushed-authorization-requests")
	var got map[string]any
	s.cliJSON(t, &got, "clients", "get", app.ClientID)
	if got["require_pushed_authorization_requests"] != true {
		t.Fatalf("clients get: require_pushed_authorization_requests %v", got["require_pushed_authorization_requests"])
	}
	base := "http://" + s.creds.HTTPAddr
	meta := s.rest(t, "GET", "/.well-known/oauth-authorization-server", nil, "")
	if meta.body["pushed_authorization_request_endpoint"] != base+"/oauth2/par" || meta.body["require_pushed_authorization_requests"] != false {
		t.Fatalf("metadata: %s", meta.rawBody)
	}

	const redirect = "http://127.0.0.1:1/callback"
	b := newBrowser(t, s, redirect)
	verifier := oauth2.GenerateVerifier()
	params := url.Values{"client_id": {app.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {"inventory:read inventory:write"}, "state": {"par-state"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	// By value: refused for this client, on a page, not at the redirect.
	if code, loc, _ := b.get(base + "/oauth2/authorize?" + params.Encode()); code != http.StatusBadRequest || loc != "" {
		t.Fatalf("authorization request by value: %d %q", code, loc)
	}
	// Errors at push time come back to the client as JSON.
	k, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	bad := url.Values{}
	for n, v := range params {
		bad[n] = v
	}
	bad.Set("redirect_uri", "https://evil.example/cb")
	if code, body := dpopPost(t, base+"/oauth2/par", bad, k); code != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Fatalf("push with an unregistered redirect_uri: %d %v", code, body)
	}

	code, body := dpopPost(t, base+"/oauth2/par", params, k)
	uri, _ := body["request_uri"].(string)
	if code != http.StatusCreated || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || body["expires_in"] != float64(60) {
		t.Fatalf("push: %d %v", code, body)
	}
	byRef := base + "/oauth2/authorize?" + url.Values{"client_id": {app.ClientID}, "request_uri": {uri}}.Encode()
	back := b.signIn(byRef, email, password)
	if !strings.HasPrefix(back.String(), redirect+"?") || back.Query().Get("state") != "par-state" || back.Query().Get("code") == "" {
		t.Fatalf("authorization response %s", back)
	}
	// Single use: the signed-in browser gets no second code.
	if code, loc, _ := b.get(byRef); code != http.StatusBadRequest || loc != "" {
		t.Fatalf("request_uri used again: %d %q", code, loc)
	}

	// The code is bound to the key of the push's proof: another key spends
	// it for nothing.
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "client_id": {app.ClientID},
		"redirect_uri": {redirect}, "code_verifier": {verifier}}
	if code, body := dpopPost(t, base+"/oauth2/token", exchange, other); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("code exchanged with another key: %d %v", code, body)
	}
	// Pushed again; the session signs the user in without a form.
	_, body = dpopPost(t, base+"/oauth2/par", params, k)
	uri, _ = body["request_uri"].(string)
	st, loc, _ := b.get(base + "/oauth2/authorize?" + url.Values{"client_id": {app.ClientID}, "request_uri": {uri}}.Encode())
	back, err := url.Parse(loc)
	if st != http.StatusSeeOther || err != nil || back.Query().Get("code") == "" {
		t.Fatalf("second authorization: %d %q", st, loc)
	}
	exchange.Set("code", back.Query().Get("code"))
	code, body = dpopPost(t, base+"/oauth2/token", exchange, k)
	tok, _ := body["access_token"].(string)
	rt, _ := body["refresh_token"].(string)
	if code != http.StatusOK || body["token_type"] != "DPoP" || tok == "" || rt == "" {
		t.Fatalf("exchange: %d %v", code, body)
	}
	leaks.add("access token", tok)
	leaks.add("refresh token", rt)

	// The write methods take the bound token with its proof, not as Bearer.
	conn, err := grpc.NewClient(s.creds.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	inv := inventoryv1.NewInventoryServiceClient(conn)
	htu := "https://" + s.creds.GRPCAddr + inventoryv1.InventoryService_CreateItem_FullMethodName
	create := func(md metadata.MD) error {
		_, err := inv.CreateItem(metadata.NewOutgoingContext(context.Background(), md), &inventoryv1.CreateItemRequest{Item: &inventoryv1.Item{Name: "pushed", Quantity: 2}})
		return err
	}
	if err := create(metadata.Pairs("authorization", "DPoP "+tok, "dpop", k.Proof(t, "POST", htu, "", tok))); err != nil {
		t.Fatalf("CreateItem with the DPoP-bound token: %v", err)
	}
	if err := create(metadata.Pairs("authorization", "DPoP "+tok, "dpop", other.Proof(t, "POST", htu, "", tok))); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("CreateItem with a proof by another key: %v", err)
	}

	// The refresh token is bound to the key too.
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {app.ClientID}}
	if code, body := dpopPost(t, base+"/oauth2/token", refresh, other); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("refresh with another key: %d %v", code, body)
	}
	if code, body := dpopPost(t, base+"/oauth2/token", refresh, k); code != http.StatusOK || body["token_type"] != "DPoP" {
		t.Fatalf("refresh with the key: %d %v", code, body)
	}
}
