package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// m2m is a partner set up for the client-credentials flow.
type m2m struct {
	s      *server
	writer createdClient
	reader createdClient
}

func setupM2M(t *testing.T, s *server) *m2m {
	t.Helper()
	// Serving the example API seeds its scopes into the catalogue.
	out, err := s.cli(t, "scopes", "list")
	if err != nil || !strings.Contains(out, "inventory:read") || !strings.Contains(out, "inventory:write") {
		t.Fatalf("scopes list: %v\n%s", err, out)
	}
	m := &m2m{s: s}
	s.cliJSON(t, &m.writer, "clients", "create", "--name", "Warehouse", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "inventory:read,inventory:write",
		"--resources", "https://other.example/api", "--rate-limit-tier", "internal")
	s.cliJSON(t, &m.reader, "clients", "create", "--name", "Reporting", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "inventory:read")
	return m
}

func (m *m2m) config(c createdClient, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		TokenURL:     "http://" + m.s.creds.HTTPAddr + "/oauth2/token",
		Scopes:       scopes,
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
}

func (m *m2m) token(t *testing.T, c createdClient, scopes ...string) string {
	t.Helper()
	tok, err := m.config(c, scopes...).Token(context.Background())
	if err != nil {
		t.Fatalf("token for %s: %v", c.ClientID, err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken != "" {
		t.Fatalf("token response: type %q, refresh token present %v", tok.TokenType, tok.RefreshToken != "")
	}
	return tok.AccessToken
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// jwtHeader decodes a token's protected header.
func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	return jwtPart(t, tok, 0)
}

// jwtClaims decodes a token's claims, unverified.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	return jwtPart(t, tok, 1)
}

func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]any{}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestEndToEndClientCredentials(t *testing.T) {
	s := start(t, t.TempDir(), "--example-inventory", "--key-publish-lead", "2s", "--jwks-max-age", "1s")
	m := setupM2M(t, s)
	ctx := context.Background()

	// Discovery names this issuer, and the endpoints work.
	meta := s.rest(t, "GET", "/.well-known/oauth-authorization-server", nil, "")
	if meta.code != 200 || meta.body["issuer"] != "http://"+s.creds.HTTPAddr || meta.body["token_endpoint"] != "http://"+s.creds.HTTPAddr+"/oauth2/token" {
		t.Fatalf("metadata: %d %s", meta.code, meta.rawBody)
	}
	if jwks := s.rest(t, "GET", "/.well-known/jwks.json", nil, ""); jwks.code != 200 || !strings.Contains(jwks.header.Get("Cache-Control"), "max-age") {
		t.Fatalf("jwks: %d %v", jwks.code, jwks.header)
	}

	write := m.token(t, m.writer, "inventory:read", "inventory:write")
	read := m.token(t, m.reader)
	if h := jwtHeader(t, write); h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] == "" {
		t.Fatalf("token header %v", h)
	}

	// REST through the gateway.
	// The write methods require a sender-constrained token (their rule's
	// require_sender_constrained): the writer's bearer token has the scope
	// but is refused, naming the requirement; TestEndToEndDPoP writes with
	// a DPoP-bound token.
	created := s.rest(t, "POST", "/v1/inventory/items", bearer(write), `{"name":"widget","quantity":3}`)
	if created.code != 401 {
		t.Fatalf("create item with a bearer token: %d %s", created.code, created.rawBody)
	}
	// A Bearer challenge naming the requirement, and a DPoP one saying how.
	chals := created.header.Values("WWW-Authenticate")
	if len(chals) != 2 || !strings.HasPrefix(chals[1], "DPoP ") {
		t.Fatalf("WWW-Authenticate %q, want a Bearer and a DPoP challenge", chals)
	}
	assertChallenge(t, chals[:1], `Bearer realm="gatehouse", error="invalid_token", error_description="this method requires a sender-constrained token*"`)
	if r := s.rest(t, "GET", "/v1/inventory/items", bearer(read), ""); r.code != 200 {
		t.Fatalf("list items: %d %s", r.code, r.rawBody)
	}
	r := s.rest(t, "POST", "/v1/inventory/items", bearer(read), `{"name":"gadget"}`)
	if r.code != 403 {
		t.Fatalf("reader creating: %d %s", r.code, r.rawBody)
	}
	assertChallenge(t, r.header.Values("WWW-Authenticate"), `Bearer realm="gatehouse", error="insufficient_scope"*scope="inventory:write"`)

	// gRPC with the same tokens.
	conn, err := grpc.NewClient(s.creds.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	inv := inventoryv1.NewInventoryServiceClient(conn)
	withBearer := func(tok string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	if _, err := inv.ListItems(withBearer(read), &inventoryv1.ListItemsRequest{}); err != nil {
		t.Fatalf("gRPC ListItems: %v", err)
	}
	if _, err := inv.CreateItem(withBearer(read), &inventoryv1.CreateItemRequest{Item: &inventoryv1.Item{Name: "x"}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("gRPC CreateItem with the reader token: %v", err)
	}
	if _, err := inv.CreateItem(withBearer(write), &inventoryv1.CreateItemRequest{Item: &inventoryv1.Item{Name: "x"}}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("gRPC CreateItem with the writer's bearer token: %v, want Unauthenticated", err)
	}

	// Tokens that must be refused, by REST and gRPC alike.
	otherCfg := m.config(m.writer, "inventory:read")
	otherCfg.EndpointParams = url.Values{"resource": {"https://other.example/api"}}
	otherTok, err := otherCfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	otherAud := otherTok.AccessToken
	other := start(t, t.TempDir(), "--example-inventory")
	om := setupM2M(t, other)
	foreign := om.token(t, om.writer)
	parts := strings.Split(write, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "inventory:read", "inventory:admin", 1))) + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."
	hsWithPublicKey := hmacWithPublicKey(t, s, write)
	for name, tok := range map[string]string{
		"wrong audience":                  otherAud,
		"other issuer (unknown kid)":      foreign,
		"tampered":                        tampered,
		"alg none":                        none,
		"HS256 keyed with the public key": hsWithPublicKey,
		"garbage":                         "not.a.jwt",
	} {
		t.Run(name, func(t *testing.T) {
			r := s.rest(t, "GET", "/v1/inventory/items", bearer(tok), "")
			if r.code != 401 {
				t.Fatalf("REST: %d %s", r.code, r.rawBody)
			}
			assertChallenge(t, r.header.Values("WWW-Authenticate"), `Bearer realm="gatehouse", error="invalid_token"*`)
			if _, err := inv.ListItems(withBearer(tok), &inventoryv1.ListItemsRequest{}); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("gRPC: %v", err)
			}
		})
	}

	// Introspection: a platform introspector sees every token; a resource
	// server registered for https://other.example/api sees only the tokens
	// for it.
	var rs, otherRS createdClient
	s.cliJSON(t, &rs, "clients", "create", "--name", "Platform introspector", "--type", "first_party",
		"--grant-types", "client_credentials", "--scopes", "gatehouse:introspect.all")
	s.cliJSON(t, &otherRS, "clients", "create", "--name", "Other API", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "gatehouse:introspect", "--resources", "https://other.example/api")
	introspectAs := func(rs createdClient, tok string) map[string]any {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+s.creds.HTTPAddr+"/oauth2/introspect", strings.NewReader("token="+tok))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rs.ClientID, rs.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]any{}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("introspect: %d %v", resp.StatusCode, err)
		}
		return out
	}
	introspect := func(tok string) map[string]any { return introspectAs(rs, tok) }
	if got := introspectAs(otherRS, otherAud); got["active"] != true || got["aud"] != "https://other.example/api" {
		t.Fatalf("the other API introspecting its own token: %v", got)
	}
	if got := introspectAs(otherRS, write); len(got) != 1 || got["active"] != false {
		t.Fatalf("the other API introspecting a token for the platform: %v", got)
	}
	if got := introspect(write); got["active"] != true || got["client_id"] != m.writer.ClientID || got["scope"] != "inventory:read inventory:write" {
		t.Fatalf("introspect active: %v", got)
	}
	if got := introspect(tampered); len(got) != 1 || got["active"] != false {
		t.Fatalf("introspect tampered: %v", got)
	}

	// A key rotation during a running loop of calls fails none of them.
	rotated := make(chan string, 1)
	var calls, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := m.config(m.writer, "inventory:read").Token(ctx)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, "token: "+err.Error())
					continue
				}
				calls.Add(1)
				if _, err := inv.ListItems(withBearer(tok.AccessToken), &inventoryv1.ListItemsRequest{}); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, "call: "+err.Error())
				}
				if h := jwtHeader(t, tok.AccessToken); h["kid"] != jwtHeader(t, write)["kid"] {
					select {
					case rotated <- h["kid"].(string):
					default:
					}
				}
			}
		}()
	}
	rot := s.rest(t, "POST", "/v1/keys:rotate", apiKeyHeaderFor(s.creds.APIKey), `{}`)
	if rot.code != 200 {
		t.Fatalf("rotate keys: %d %s", rot.code, rot.rawBody)
	}
	select {
	case <-rotated:
		// Let the loop run on the new key for a moment.
		time.Sleep(time.Second)
	case <-time.After(15 * time.Second):
		t.Error("no token signed by the new key within 15s of the rotation")
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || calls.Load() == 0 {
		t.Fatalf("rotation under load: %d calls, %d failed, first: %v", calls.Load(), failed.Load(), firstErr.Load())
	}
	// Tokens signed by the retired key keep working while it is published.
	if _, err := inv.ListItems(withBearer(write), &inventoryv1.ListItemsRequest{}); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}
	if got := introspect(write); got["active"] != true {
		t.Fatalf("introspection of a token of the retired key: %v", got)
	}
	assertNoSecretsInLogs(t, s.logs.String(), []string{m.writer.ClientSecret, m.reader.ClientSecret, write, read, s.creds.APIKey})
}

func apiKeyHeaderFor(k string) map[string]string {
	return map[string]string{"Authorization": "ApiKey " + k}
}

// hmacWithPublicKey re-signs tok's claims with HS256, keyed with the PEM of
// the server's own public signing key and carrying its kid: the classic
// key-confusion forgery (RFC 8725 §2.1).
func hmacWithPublicKey(t *testing.T, s *server, tok string) string {
	t.Helper()
	r := s.rest(t, "GET", "/.well-known/jwks.json", nil, "")
	set, err := jwk.Parse([]byte(r.rawBody))
	if err != nil || set.Len() == 0 {
		t.Fatalf("jwks: %v", err)
	}
	kid := jwtHeader(t, tok)["kid"].(string)
	key, ok := set.LookupKeyID(kid)
	if !ok {
		t.Fatalf("kid %s not in the JWKS", kid)
	}
	var raw any
	if err := key.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"` + kid + `"}`))
	input := header + "." + strings.Split(tok, ".")[1]
	mac := hmac.New(sha256.New, pemKey)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// More concurrent token requests than database connections must queue, not
// stall: 64 clients, each a cache miss at first, against a pool of 4.
func TestTokenRequestsOutnumberDatabaseConnections(t *testing.T) {
	dbURL, natsURL := externalServices(t, "pool_max_conns=4")
	s := start(t, t.TempDir(), "--database-url", dbURL, "--nats-url", natsURL, "--example-inventory")
	m := &m2m{s: s}
	const clients = 64
	cfgs := make([]*clientcredentials.Config, clients)
	for i := range cfgs {
		var c createdClient
		s.cliJSON(t, &c, "clients", "create", "--name", fmt.Sprintf("load-%d", i), "--type", "third_party",
			"--grant-types", "client_credentials", "--scopes", "inventory:read")
		cfgs[i] = m.config(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := make(chan struct{})
	for _, cfg := range cfgs {
		wg.Go(func() {
			<-start
			for range 5 {
				if _, err := cfg.Token(ctx); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if ctx.Err() != nil || failed.Load() != 0 {
		t.Fatalf("%d of %d token requests failed (context: %v)", failed.Load(), clients*5, ctx.Err())
	}
}

// A token past exp (plus the configured skew) is refused by the API and
// inactive at introspection. The shortest lifetime a client may have is one
// minute, so this test waits for it, in parallel with the others.
func TestExpiredTokenRefused(t *testing.T) {
	t.Parallel()
	s := start(t, t.TempDir(), "--example-inventory", "--clock-skew", "1s")
	m := setupM2M(t, s)
	var short createdClient
	s.cliJSON(t, &short, "clients", "create", "--name", "Short-lived", "--type", "third_party",
		"--grant-types", "client_credentials", "--scopes", "inventory:read,gatehouse:introspect", "--access-token-lifetime", "1m")
	tok, err := m.config(short, "inventory:read").Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r := s.rest(t, "GET", "/v1/inventory/items", bearer(tok.AccessToken), ""); r.code != 200 {
		t.Fatalf("fresh token: %d %s", r.code, r.rawBody)
	}
	time.Sleep(time.Until(tok.Expiry) + 2*time.Second)
	r := s.rest(t, "GET", "/v1/inventory/items", bearer(tok.AccessToken), "")
	if r.code != 401 {
		t.Fatalf("expired token: %d %s", r.code, r.rawBody)
	}
	assertChallenge(t, r.header.Values("WWW-Authenticate"), `Bearer realm="gatehouse", error="invalid_token"*`)
	req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+s.creds.HTTPAddr+"/oauth2/introspect", strings.NewReader("token="+tok.AccessToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(short.ClientID, short.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || len(got) != 1 || got["active"] != false {
		t.Fatalf("introspection of an expired token: %v %v", got, err)
	}
}
