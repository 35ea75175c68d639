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
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestEndToEndDPoP: a client registered with --dpop-bound-access-tokens
// gets a DPoP-bound token only with a proof carrying the server nonce,
// and the token works over gRPC only with a fresh proof by its key.
func TestEndToEndDPoP(t *testing.T) {
	s := start(t, t.TempDir(), "--example-inventory")
	var c createdClient
	s.cliJSON(t, &c, "clients", "create", "--name", "DPoP partner", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "inventory:read,inventory:write", "--dpop-bound-access-tokens")
	leaks.add("client secret", c.ClientSecret)
	var got map[string]any
	s.cliJSON(t, &got, "clients", "get", c.ClientID)
	if got["dpop_bound_access_tokens"] != true {
		t.Fatalf("clients get: dpop_bound_access_tokens %v", got["dpop_bound_access_tokens"])
	}
	meta := s.rest(t, "GET", "/.well-known/oauth-authorization-server", nil, "")
	if algs, _ := meta.body["dpop_signing_alg_values_supported"].([]any); len(algs) == 0 || algs[0] != "ES256" {
		t.Fatalf("metadata: dpop_signing_alg_values_supported %v", meta.body["dpop_signing_alg_values_supported"])
	}

	tokenURL := "http://" + s.creds.HTTPAddr + "/oauth2/token"
	k := dpoptest.NewKey(t)
	post := func(proof string) (int, http.Header, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
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

	if code, _, body := post(""); code != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("no proof: %d %v", code, body)
	}
	code, h, body := post(k.Proof(t, "POST", tokenURL, "", ""))
	nonce := h.Get("DPoP-Nonce")
	if code != http.StatusBadRequest || body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("proof without a nonce: %d %v, DPoP-Nonce %q", code, body, nonce)
	}
	proof := k.Proof(t, "POST", tokenURL, nonce, "")
	code, _, body = post(proof)
	if code != http.StatusOK || body["token_type"] != "DPoP" {
		t.Fatalf("proof with the nonce: %d %v", code, body)
	}
	tok, _ := body["access_token"].(string)
	if cnf, _ := jwtClaims(t, tok)["cnf"].(map[string]any); cnf["jkt"] != k.JKT {
		t.Fatalf("cnf %v, want jkt %s", jwtClaims(t, tok)["cnf"], k.JKT)
	}
	leaks.add("access token", tok)
	if code, _, body := post(proof); code != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("replayed proof: %d %v", code, body)
	}

	// Introspection says what the token is bound to (RFC 9449 §6.2).
	var rs createdClient
	s.cliJSON(t, &rs, "clients", "create", "--name", "Platform introspector", "--type", "first_party",
		"--grant-types", "client_credentials", "--scopes", "gatehouse:introspect.all")
	leaks.add("client secret", rs.ClientSecret)
	ireq, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+s.creds.HTTPAddr+"/oauth2/introspect", strings.NewReader("token="+tok))
	ireq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ireq.SetBasicAuth(rs.ClientID, rs.ClientSecret)
	iresp, err := http.DefaultClient.Do(ireq)
	if err != nil {
		t.Fatal(err)
	}
	intro := map[string]any{}
	_ = json.NewDecoder(iresp.Body).Decode(&intro)
	iresp.Body.Close()
	if cnf, _ := intro["cnf"].(map[string]any); intro["active"] != true || intro["token_type"] != "DPoP" || cnf["jkt"] != k.JKT {
		t.Fatalf("introspection of the DPoP token: %v", intro)
	}

	// At the resource, over gRPC: htu is https://<authority>/<method>.
	conn, err := grpc.NewClient(s.creds.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	inv := inventoryv1.NewInventoryServiceClient(conn)
	htu := func(method string) string { return "https://" + s.creds.GRPCAddr + method }
	call := func(scheme, proof string) error {
		md := metadata.Pairs("authorization", scheme+" "+tok)
		if proof != "" {
			md.Set("dpop", proof)
		}
		_, err := inv.ListItems(metadata.NewOutgoingContext(context.Background(), md), &inventoryv1.ListItemsRequest{})
		return err
	}
	good := k.Proof(t, "POST", htu(inventoryv1.InventoryService_ListItems_FullMethodName), "", tok)
	if err := call("DPoP", good); err != nil {
		t.Fatalf("ListItems with the token and its proof: %v", err)
	}
	// The write methods require a sender-constrained token: this one is.
	wmd := metadata.Pairs("authorization", "DPoP "+tok,
		"dpop", k.Proof(t, "POST", htu(inventoryv1.InventoryService_CreateItem_FullMethodName), "", tok))
	if _, err := inv.CreateItem(metadata.NewOutgoingContext(context.Background(), wmd), &inventoryv1.CreateItemRequest{Item: &inventoryv1.Item{Name: "bound", Quantity: 1}}); err != nil {
		t.Fatalf("CreateItem with the DPoP-bound token and its proof: %v", err)
	}
	other := dpoptest.NewKey(t)
	refusals := []struct {
		name, scheme, proof string
	}{
		{"the same proof again", "DPoP", good},
		{"no proof", "DPoP", ""},
		{"as a Bearer token", "Bearer", k.Proof(t, "POST", htu(inventoryv1.InventoryService_ListItems_FullMethodName), "", tok)},
		{"a proof for another method", "DPoP", k.Proof(t, "POST", htu(inventoryv1.InventoryService_CreateItem_FullMethodName), "", tok)},
		{"a proof by another key", "DPoP", other.Proof(t, "POST", htu(inventoryv1.InventoryService_ListItems_FullMethodName), "", tok)},
	}
	for _, r := range refusals {
		if err := call(r.scheme, r.proof); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v, want Unauthenticated", r.name, err)
		}
	}
	// The REST facade carries the proof to the gRPC validator, which checks
	// it against the HTTP request the client made, not the gRPC call.
	restURL := "http://" + s.creds.HTTPAddr + "/v1/inventory/items"
	restProof := func(key *dpoptest.Key, htm, u string) map[string]string {
		return map[string]string{"Authorization": "DPoP " + tok, "DPoP": key.Proof(t, htm, u, "", tok)}
	}
	if r := s.rest(t, "GET", "/v1/inventory/items", restProof(k, "GET", restURL), ""); r.code != http.StatusOK {
		t.Fatalf("REST with the DPoP-bound token and its proof: %d %s", r.code, r.rawBody)
	}
	if r := s.rest(t, "POST", "/v1/inventory/items", restProof(k, "POST", restURL), `{"name":"via REST","quantity":1}`); r.code != http.StatusOK {
		t.Fatalf("REST write with the DPoP-bound token and its proof: %d %s", r.code, r.rawBody)
	}
	for _, c := range []struct {
		name    string
		headers map[string]string
	}{
		{"a proof for the gRPC method", restProof(k, "POST", htu(inventoryv1.InventoryService_ListItems_FullMethodName))},
		{"a proof for another HTTP method", restProof(k, "POST", restURL)},
		{"a proof by another key", restProof(other, "GET", restURL)},
		{"as a Bearer token", map[string]string{"Authorization": "Bearer " + tok, "DPoP": k.Proof(t, "GET", restURL, "", tok)}},
		{"no proof", map[string]string{"Authorization": "DPoP " + tok}},
	} {
		if r := s.rest(t, "GET", "/v1/inventory/items", c.headers, ""); r.code != http.StatusUnauthorized {
			t.Errorf("REST, %s: %d %s", c.name, r.code, r.rawBody)
		}
	}
	// A gRPC caller cannot state the HTTP request a proof names: only the
	// gateway can.
	forged := metadata.Pairs("authorization", "DPoP "+tok, "dpop", k.Proof(t, "GET", restURL, "", tok),
		"x-gatehouse-dpop-htm", "GET", "x-gatehouse-dpop-htu", restURL)
	if _, err := inv.ListItems(metadata.NewOutgoingContext(context.Background(), forged), &inventoryv1.ListItemsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC stating an HTTP request for its proof: %v, want Unauthenticated", err)
	}
}

// TestEndToEndDPoPResourceNonce: with --dpop-resource-nonce the validators
// demand a server nonce (RFC 9449 §9): a proof without one is refused
// with use_dpop_nonce and the nonce to use (DPoP-Nonce over HTTP, the
// ErrorInfo metadata dpop_nonce over gRPC), and the retry with it is
// taken; the token endpoint's nonce is not the resources'.
func TestEndToEndDPoPResourceNonce(t *testing.T) {
	s := start(t, t.TempDir(), "--example-inventory", "--dpop-resource-nonce")
	var c createdClient
	s.cliJSON(t, &c, "clients", "create", "--name", "nonce partner", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "inventory:read")
	leaks.add("client secret", c.ClientSecret)
	k := dpoptest.NewKey(t)
	tokenURL := "http://" + s.creds.HTTPAddr + "/oauth2/token"
	var tok, tokenNonce string
	for try := 0; tok == "" && try < 2; try++ {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
		req.Header.Set("DPoP", k.Proof(t, "POST", tokenURL, tokenNonce, ""))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusBadRequest && resp.Header.Get("DPoP-Nonce") != "" {
			tokenNonce = resp.Header.Get("DPoP-Nonce")
			continue
		}
		if tok, _ = body["access_token"].(string); resp.StatusCode != http.StatusOK || body["token_type"] != "DPoP" {
			t.Fatalf("token: %d %v", resp.StatusCode, body)
		}
	}
	leaks.add("access token", tok)

	restURL := "http://" + s.creds.HTTPAddr + "/v1/inventory/items"
	rest := func(nonce string) restResult {
		return s.rest(t, "GET", "/v1/inventory/items", map[string]string{"Authorization": "DPoP " + tok, "DPoP": k.Proof(t, "GET", restURL, nonce, tok)}, "")
	}
	first := rest("")
	nonce := first.header.Get("DPoP-Nonce")
	if first.code != http.StatusUnauthorized || nonce == "" || !strings.Contains(first.header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
		t.Fatalf("REST without a nonce: %d, DPoP-Nonce %q, WWW-Authenticate %q", first.code, nonce, first.header.Get("WWW-Authenticate"))
	}
	if r := rest(tokenNonce); r.code != http.StatusUnauthorized {
		t.Errorf("REST with the token endpoint's nonce: %d, want 401", r.code)
	}
	if r := rest(nonce); r.code != http.StatusOK {
		t.Fatalf("REST with the nonce: %d %s", r.code, r.rawBody)
	}

	conn, err := grpc.NewClient(s.creds.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	inv := inventoryv1.NewInventoryServiceClient(conn)
	htu := "https://" + s.creds.GRPCAddr + inventoryv1.InventoryService_ListItems_FullMethodName
	call := func(nonce string) error {
		md := metadata.Pairs("authorization", "DPoP "+tok, "dpop", k.Proof(t, "POST", htu, nonce, tok))
		_, err := inv.ListItems(metadata.NewOutgoingContext(context.Background(), md), &inventoryv1.ListItemsRequest{})
		return err
	}
	err = call("")
	grpcNonce := ""
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == "use_dpop_nonce" {
			grpcNonce = info.GetMetadata()["dpop_nonce"]
		}
	}
	if status.Code(err) != codes.Unauthenticated || grpcNonce == "" {
		t.Fatalf("gRPC without a nonce: %v, nonce %q", err, grpcNonce)
	}
	if err := call(grpcNonce); err != nil {
		t.Fatalf("gRPC with the nonce: %v", err)
	}
}
