package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
)

// TestConfiguredTiersReachTheTokenService is checklist item 90 at the
// token (successful requests included), introspection and revocation
// endpoints: the tiers given with
// --rate-limit-tiers, not the built-in defaults, budget each caller, so a
// low client gets 429 with Retry-After past its burst while an internal
// client at the same rate does not.
func TestConfiguredTiersReachTheTokenService(t *testing.T) {
	a := startTraced(t, io.Discard, "--data-dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--mtls-addr", "",
		"--rate-limit-tiers", "low=0.001:3,standard=50:100,high=500:1000,internal=1000000:1000000")
	raw, err := readAdminKey(a)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "ApiKey "+raw)
	create := func(tier clientsv1.RateLimitTier) (id, secret string) {
		c, err := clientsv1.NewClientRegistryServiceClient(conn).CreateClient(ctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
			Name: tier.String(), Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, RateLimitTier: tier,
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"gatehouse:introspect"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return c.GetClient().GetClientId(), c.GetClientSecret()
	}
	post := func(path, id, secret string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		w := httptest.NewRecorder()
		a.httpSrv.Handler.ServeHTTP(w, req)
		return w
	}
	id, secret := create(clientsv1.RateLimitTier_RATE_LIMIT_TIER_INTERNAL)
	w := post("/oauth2/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	for _, path := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"} {
		t.Run(path, func(t *testing.T) {
			lowID, lowSecret := create(clientsv1.RateLimitTier_RATE_LIMIT_TIER_LOW)
			internalID, internalSecret := create(clientsv1.RateLimitTier_RATE_LIMIT_TIER_INTERNAL)
			form := url.Values{"token": {"not-a-token-of-anyone"}}
			if path == "/oauth2/token" {
				// Successful requests spend the budget too.
				form = url.Values{"grant_type": {"client_credentials"}}
			}
			var lowStatus []int
			for range 6 {
				lowStatus = append(lowStatus, post(path, lowID, lowSecret, form).Code)
				if w := post(path, internalID, internalSecret, form); w.Code != http.StatusOK {
					t.Fatalf("internal client: %d %s", w.Code, w.Body)
				}
			}
			w := post(path, lowID, lowSecret, form)
			if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
				t.Fatalf("low client past its burst of 3: %d (Retry-After %q), earlier %v", w.Code, w.Header().Get("Retry-After"), lowStatus)
			}
			for i, s := range lowStatus[:3] {
				if s != http.StatusOK {
					t.Errorf("low client request %d within its burst: %d", i, s)
				}
			}
		})
	}
}
