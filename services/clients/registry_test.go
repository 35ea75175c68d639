package clients_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/clients/sqlstore"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type events struct {
	mu  sync.Mutex
	got []*eventsv1.ClientChanged
}

func (e *events) PublishClientChanged(_ context.Context, ev *eventsv1.ClientChanged) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
	return nil
}

func (e *events) last() *eventsv1.ClientChanged {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.got) == 0 {
		return nil
	}
	return e.got[len(e.got)-1]
}

type fixture struct {
	r     *clients.Registry
	clock *clock
	ev    *events
	store clients.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store, err := sqlstore.New(t.Context(), dbtest.SQLiteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}, ev: &events{}, store: store}
	f.r = clients.New(store, clients.WithClock(f.clock.Now), clients.WithPublisher(f.ev))
	ctx := context.Background()
	if err := f.r.SeedScopes(ctx, []string{"gatehouse:admin"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"orders:read", "orders:write"} {
		if _, err := f.r.CreateScope(ctx, &clientsv1.CreateScopeRequest{Scope: &clientsv1.Scope{Name: s}}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func partner() *clientsv1.Client {
	return &clientsv1.Client{
		Name:       "Partner",
		Type:       clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY,
		GrantTypes: []string{"client_credentials"},
		Scopes:     []string{"orders:read", "orders:write"},
	}
}

func spa() *clientsv1.Client {
	return &clientsv1.Client{
		Name:         "SPA",
		Type:         clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY,
		Public:       true,
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectUris: []string{"https://app.example/cb", "http://127.0.0.1:49152/cb"},
		Scopes:       []string{"orders:read"},
	}
}

const (
	body   = clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_BODY
	cookie = clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_COOKIE
	unset  = clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_UNSPECIFIED
)

// badField returns the field named by an InvalidArgument error.
func badField(t *testing.T, err error) string {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code %v (%v), want InvalidArgument", st.Code(), err)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	t.Fatalf("no field violation in %v", err)
	return ""
}

func TestCreateClientRefusesInvalidInput(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		edit  func(c *clientsv1.Client)
		field string
	}{
		{"no name", func(c *clientsv1.Client) { c.Name = " " }, "name"},
		{"no type", func(c *clientsv1.Client) { c.Type = 0 }, "type"},
		{"unknown grant", func(c *clientsv1.Client) { c.GrantTypes = []string{"password"} }, "grant_types"},
		{"implicit grant", func(c *clientsv1.Client) { c.GrantTypes = []string{"implicit"} }, "grant_types"},
		{"public client credentials", func(c *clientsv1.Client) { c.Public = true }, "grant_types"},
		{"public with secret method", func(c *clientsv1.Client) {
			c.Public, c.GrantTypes, c.RedirectUris, c.TokenEndpointAuthMethod = true, []string{"authorization_code"}, []string{"https://a.example/cb"}, "client_secret_basic"
		}, "token_endpoint_auth_method"},
		{"uncatalogued scope", func(c *clientsv1.Client) { c.Scopes = []string{"orders:delete"} }, "scopes"},
		{"code without redirect", func(c *clientsv1.Client) { c.GrantTypes = []string{"authorization_code"} }, "redirect_uris"},
		{"wildcard redirect", func(c *clientsv1.Client) {
			c.GrantTypes, c.RedirectUris = []string{"authorization_code"}, []string{"https://*.example/cb"}
		}, "redirect_uris"},
		{"fragment redirect", func(c *clientsv1.Client) {
			c.GrantTypes, c.RedirectUris = []string{"authorization_code"}, []string{"https://a.example/cb#x"}
		}, "redirect_uris"},
		{"http non-loopback redirect", func(c *clientsv1.Client) {
			c.GrantTypes, c.RedirectUris = []string{"authorization_code"}, []string{"http://a.example/cb"}
		}, "redirect_uris"},
		{"userinfo redirect", func(c *clientsv1.Client) {
			c.GrantTypes, c.RedirectUris = []string{"authorization_code"}, []string{"https://a.example@evil.example/cb"}
		}, "redirect_uris"},
		{"relative redirect", func(c *clientsv1.Client) {
			c.GrantTypes, c.RedirectUris = []string{"authorization_code"}, []string{"/cb"}
		}, "redirect_uris"},
		{"lifetime too long", func(c *clientsv1.Client) { c.AccessTokenLifetime = durationpb.New(61 * time.Minute) }, "access_token_lifetime"},
		{"first party too short", func(c *clientsv1.Client) {
			c.Type, c.AccessTokenLifetime = clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, durationpb.New(4*time.Minute)
		}, "access_token_lifetime"},
		{"first party too long", func(c *clientsv1.Client) {
			c.Type, c.AccessTokenLifetime = clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, durationpb.New(16*time.Minute)
		}, "access_token_lifetime"},
		{"tls method without subject", func(c *clientsv1.Client) { c.TokenEndpointAuthMethod = "tls_client_auth" }, "tls_client_auth"},
		{"tls method with two subjects", func(c *clientsv1.Client) {
			c.TokenEndpointAuthMethod = "tls_client_auth"
			c.TlsClientAuth = &clientsv1.TLSClientAuth{SubjectDn: "CN=a", SanDns: "a.example"}
		}, "tls_client_auth"},
		{"binding without mtls", func(c *clientsv1.Client) {
			c.TlsClientAuth = &clientsv1.TLSClientAuth{BoundAccessTokens: true}
		}, "tls_client_auth.bound_access_tokens"},
		{"unknown auth method", func(c *clientsv1.Client) { c.TokenEndpointAuthMethod = "private_key_jwt" }, "token_endpoint_auth_method"},
		{"relative resource", func(c *clientsv1.Client) { c.Resources = []string{"/orders"} }, "resources"},
		{"resource without scheme", func(c *clientsv1.Client) { c.Resources = []string{"api.example/orders"} }, "resources"},
		{"fragment resource", func(c *clientsv1.Client) { c.Resources = []string{"https://api.example/orders#x"} }, "resources"},
		{"empty fragment resource", func(c *clientsv1.Client) { c.Resources = []string{"https://api.example/orders#"} }, "resources"},
		{"http non-loopback resource", func(c *clientsv1.Client) { c.Resources = []string{"http://api.example/orders"} }, "resources"},
		{"http localhost name resource", func(c *clientsv1.Client) { c.Resources = []string{"http://localhost:9000/"} }, "resources"},
		{"urn resource", func(c *clientsv1.Client) { c.Resources = []string{"urn:example:orders"} }, "resources"},
		{"userinfo resource", func(c *clientsv1.Client) { c.Resources = []string{"https://u@api.example/"} }, "resources"},
		{"space in resource", func(c *clientsv1.Client) { c.Resources = []string{"https://api.example/a b"} }, "resources"},
		{"too many resources", func(c *clientsv1.Client) {
			for i := range 51 {
				c.Resources = append(c.Resources, "https://api.example/r"+strings.Repeat("x", i))
			}
		}, "resources"},
		{"cookie delivery on a confidential client", func(c *clientsv1.Client) {
			c.Type, c.GrantTypes, c.RedirectUris = clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, []string{"authorization_code", "refresh_token"}, []string{"https://app.example/cb"}
			c.RefreshTokenDelivery = cookie
		}, "refresh_token_delivery"},
		{"cookie delivery on a third-party client", func(c *clientsv1.Client) {
			c.Public, c.GrantTypes, c.RedirectUris = true, []string{"authorization_code", "refresh_token"}, []string{"https://app.example/cb"}
			c.RefreshTokenDelivery = cookie
		}, "refresh_token_delivery"},
		{"cookie delivery without the refresh_token grant", func(c *clientsv1.Client) {
			c.Type, c.Public, c.GrantTypes, c.RedirectUris = clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, true, []string{"authorization_code"}, []string{"https://app.example/cb"}
			c.RefreshTokenDelivery = cookie
		}, "refresh_token_delivery"},
		{"body delivery without the refresh_token grant", func(c *clientsv1.Client) {
			c.RefreshTokenDelivery = clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_BODY
		}, "refresh_token_delivery"},
		{"unknown delivery", func(c *clientsv1.Client) {
			c.Type, c.Public, c.GrantTypes, c.RedirectUris = clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, true, []string{"authorization_code", "refresh_token"}, []string{"https://app.example/cb"}
			c.RefreshTokenDelivery = 7
		}, "refresh_token_delivery"},
		// A native app with only a private-use scheme redirect (accepted
		// for a public first-party client, RFC 8252 §7.1) cannot receive
		// cookies.
		{"cookie delivery with a private-use scheme redirect only", func(c *clientsv1.Client) {
			c.Type, c.Public, c.GrantTypes, c.RedirectUris = clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, true, []string{"authorization_code", "refresh_token"}, []string{"com.example.app:/oauth2/cb"}
			c.RefreshTokenDelivery = cookie
		}, "refresh_token_delivery"},
		// Other clients may have no private-use scheme redirect at all.
		{"private-use scheme redirect on a confidential client", func(c *clientsv1.Client) {
			c.GrantTypes, c.RedirectUris = []string{"authorization_code"}, []string{"com.example.app:/oauth2/cb"}
		}, "redirect_uris"},
		{"private-use scheme redirect on a public third-party client", func(c *clientsv1.Client) {
			c.Public, c.GrantTypes, c.RedirectUris = true, []string{"authorization_code"}, []string{"com.example.app:/oauth2/cb"}
		}, "redirect_uris"},
		{"OpenID Connect settings without authorization_code", func(c *clientsv1.Client) {
			c.IdTokenLifetime = durationpb.New(10 * time.Minute)
		}, "id_token_lifetime"},
		{"post-logout redirect to a private-use scheme, confidential client", func(c *clientsv1.Client) {
			c.GrantTypes, c.RedirectUris = []string{"authorization_code"}, []string{"https://app.example/cb"}
			c.PostLogoutRedirectUris = []string{"com.example.app:/bye"}
		}, "post_logout_redirect_uris"},
		{"back-channel logout on plain http", func(c *clientsv1.Client) {
			c.GrantTypes, c.RedirectUris = []string{"authorization_code"}, []string{"https://app.example/cb"}
			c.BackchannelLogoutUri = "http://app.example/logout"
		}, "backchannel_logout_uri"},
		{"back-channel session without a URI", func(c *clientsv1.Client) {
			c.GrantTypes, c.RedirectUris = []string{"authorization_code"}, []string{"https://app.example/cb"}
			c.BackchannelLogoutSessionRequired = true
		}, "backchannel_logout_session_required"},
		{"ID token lifetime too long", func(c *clientsv1.Client) {
			c.GrantTypes, c.RedirectUris = []string{"authorization_code"}, []string{"https://app.example/cb"}
			c.IdTokenLifetime = durationpb.New(61 * time.Minute)
		}, "id_token_lifetime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := partner()
			tc.edit(c)
			_, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: c})
			if got := badField(t, err); got != tc.field {
				t.Fatalf("field %q (%v), want %q", got, err, tc.field)
			}
		})
	}
	list, err := f.r.ListClients(ctx, &clientsv1.ListClientsRequest{})
	if err != nil || len(list.GetClients()) != 0 {
		t.Fatalf("refused creates wrote something: %v %v", list, err)
	}
}

func TestCreateClientDefaultsAndSecret(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	resp, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: partner()})
	if err != nil {
		t.Fatal(err)
	}
	c := resp.GetClient()
	if c.GetTokenEndpointAuthMethod() != "client_secret_basic" || c.GetAccessTokenLifetime().AsDuration() != 10*time.Minute || len(c.GetResources()) != 0 ||
		c.GetRateLimitTier() != clientsv1.RateLimitTier_RATE_LIMIT_TIER_STANDARD {
		t.Fatalf("defaults not applied: %v", c)
	}
	if len(resp.GetClientSecret()) != 43 {
		t.Fatalf("secret length %d, want 43 (256 bits base64url)", len(resp.GetClientSecret()))
	}
	if ev := f.ev.last(); ev.GetChange() != eventsv1.ClientChanged_CHANGE_CREATED || ev.GetClientId() != c.GetClientId() {
		t.Fatalf("event %v", ev)
	}
	got, err := f.r.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: c.GetClientId()})
	if err != nil || got.GetClient().GetName() != "Partner" {
		t.Fatalf("GetClient: %v %v", got, err)
	}
	if _, err := f.r.VerifyClientSecret(ctx, &clientsv1.VerifyClientSecretRequest{ClientId: c.GetClientId(), ClientSecret: resp.GetClientSecret()}); err != nil {
		t.Fatalf("secret does not verify: %v", err)
	}

	pub, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: spa()})
	if err != nil {
		t.Fatal(err)
	}
	if pub.GetClientSecret() != "" || pub.GetClient().GetTokenEndpointAuthMethod() != "none" {
		t.Fatalf("public client got a secret or method %q", pub.GetClient().GetTokenEndpointAuthMethod())
	}
}

func TestRotateClientSecretGrace(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		grace     *durationpb.Duration
		after     time.Duration
		oldWorks  bool
		wantGrace time.Duration
	}{
		{"default grace, within", nil, 23 * time.Hour, true, 24 * time.Hour},
		{"default grace, after", nil, 24 * time.Hour, false, 24 * time.Hour},
		{"zero grace", durationpb.New(0), 0, false, 0},
		{"one hour, within", durationpb.New(time.Hour), 59 * time.Minute, true, time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			created, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: partner()})
			if err != nil {
				t.Fatal(err)
			}
			id, old := created.GetClient().GetClientId(), created.GetClientSecret()
			f.clock.Advance(time.Second)
			rot, err := f.r.RotateClientSecret(ctx, &clientsv1.RotateClientSecretRequest{ClientId: id, GracePeriod: tc.grace})
			if err != nil {
				t.Fatal(err)
			}
			if got := rot.GetPreviousSecretExpireTime().AsTime().Sub(f.clock.Now()); got != tc.wantGrace {
				t.Fatalf("previous secret expires in %v, want %v", got, tc.wantGrace)
			}
			f.clock.Advance(tc.after)
			verify := func(secret string) bool {
				_, err := f.r.VerifyClientSecret(ctx, &clientsv1.VerifyClientSecretRequest{ClientId: id, ClientSecret: secret})
				if err != nil && status.Code(err) != codes.Unauthenticated {
					t.Fatal(err)
				}
				return err == nil
			}
			if verify(old) != tc.oldWorks {
				t.Fatalf("old secret works = %v, want %v", !tc.oldWorks, tc.oldWorks)
			}
			if !verify(rot.GetClientSecret()) {
				t.Fatal("new secret does not work")
			}
			if verify(rot.GetClientSecret()[:42] + "x") {
				t.Fatal("a wrong secret works")
			}
		})
	}
}

func TestAPIKeyLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	created, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: partner()})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetClient().GetClientId()
	verify := func(raw string) *clientsv1.VerifyAPIKeyResponse {
		t.Helper()
		v, err := f.r.VerifyAPIKey(ctx, &clientsv1.VerifyAPIKeyRequest{ApiKey: raw})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// Scopes must be a non-empty subset of the client's.
	for _, scopes := range [][]string{nil, {"gatehouse:admin"}, {"orders:read", "nope"}} {
		_, err := f.r.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: id, Scopes: scopes})
		if badField(t, err) != "scopes" {
			t.Fatalf("scopes %v accepted", scopes)
		}
	}
	if _, err := f.r.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: id, Scopes: []string{"orders:read"}, Ttl: durationpb.New(time.Second)}); badField(t, err) != "ttl" {
		t.Fatal("1s ttl accepted")
	}
	if _, err := f.r.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: "c_nope", Scopes: []string{"orders:read"}}); status.Code(err) != codes.NotFound {
		t.Fatalf("key for unknown client: %v", err)
	}

	key, err := f.r.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: id, Scopes: []string{"orders:read"}, Ttl: durationpb.New(90 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	raw := key.GetApiKey()
	if v := verify(raw); v.GetFailure() != clientsv1.APIKeyFailure_API_KEY_FAILURE_UNSPECIFIED ||
		v.GetClientId() != id || strings.Join(v.GetScopes(), " ") != "orders:read" ||
		v.GetRateLimitTier() != clientsv1.RateLimitTier_RATE_LIMIT_TIER_STANDARD {
		t.Fatalf("good key: %v", v)
	}

	// Failures, each with its reason.
	typo := []byte(raw)
	typo[12] ^= 1
	k2, err := f.r.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: id, Scopes: []string{"orders:read"}})
	if err != nil {
		t.Fatal(err)
	}
	forged := raw[:4+16+1] + k2.GetApiKey()[4+16+1:] // right key_id, another key's secret
	if v := verify(string(typo)); v.GetFailure() != clientsv1.APIKeyFailure_API_KEY_FAILURE_MALFORMED {
		t.Fatalf("typo: %v", v)
	}
	if v := verify(forged); v.GetFailure() == clientsv1.APIKeyFailure_API_KEY_FAILURE_UNSPECIFIED {
		t.Fatal("a key with another key's secret verified")
	}

	// Narrowing the client narrows its keys at once.
	if _, err := f.r.UpdateClient(ctx, &clientsv1.UpdateClientRequest{
		Client:     &clientsv1.Client{ClientId: id, Scopes: []string{"orders:write"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"scopes"}},
	}); err != nil {
		t.Fatal(err)
	}
	if v := verify(raw); len(v.GetScopes()) != 0 {
		t.Fatalf("key keeps a scope its client lost: %v", v.GetScopes())
	}

	// Rotation: the old key works during the grace period, then expires.
	rot, err := f.r.RotateAPIKey(ctx, &clientsv1.RotateAPIKeyRequest{ClientId: id, KeyId: key.GetKey().GetKeyId(), GracePeriod: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rot.GetKey().GetExpireTime().AsTime().Sub(f.clock.Now()) != 90*24*time.Hour {
		t.Fatalf("rotated key lifetime %v", rot.GetKey().GetExpireTime().AsTime().Sub(f.clock.Now()))
	}
	if _, err := f.r.RotateAPIKey(ctx, &clientsv1.RotateAPIKeyRequest{ClientId: id, KeyId: key.GetKey().GetKeyId()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second rotation of the same key: %v", err)
	}
	f.clock.Advance(59 * time.Minute)
	if v := verify(raw); v.GetFailure() != clientsv1.APIKeyFailure_API_KEY_FAILURE_UNSPECIFIED {
		t.Fatalf("old key inside grace: %v", v.GetFailure())
	}
	f.clock.Advance(time.Minute)
	if v := verify(raw); v.GetFailure() != clientsv1.APIKeyFailure_API_KEY_FAILURE_EXPIRED {
		t.Fatalf("old key after grace: %v", v.GetFailure())
	}

	// Another client cannot touch the key, and learns nothing.
	other, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: partner()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.RevokeAPIKey(ctx, &clientsv1.RevokeAPIKeyRequest{ClientId: other.GetClient().GetClientId(), KeyId: rot.GetKey().GetKeyId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("revoke through another client: %v", err)
	}

	// Revocation, twice (idempotent), then refused.
	for range 2 {
		rev, err := f.r.RevokeAPIKey(ctx, &clientsv1.RevokeAPIKeyRequest{ClientId: id, KeyId: rot.GetKey().GetKeyId()})
		if err != nil || !rev.GetKey().GetRevoked() {
			t.Fatalf("revoke: %v %v", rev, err)
		}
		f.clock.Advance(time.Second)
	}
	if v := verify(rot.GetApiKey()); v.GetFailure() != clientsv1.APIKeyFailure_API_KEY_FAILURE_REVOKED {
		t.Fatalf("revoked key: %v", v.GetFailure())
	}
	if ev := f.ev.last(); ev.GetChange() != eventsv1.ClientChanged_CHANGE_API_KEY_REVOKED || ev.GetKeyId() != rot.GetKey().GetKeyId() {
		t.Fatalf("event %v", ev)
	}

	// A disabled client's keys stop.
	if _, err := f.r.UpdateClient(ctx, &clientsv1.UpdateClientRequest{
		Client:     &clientsv1.Client{ClientId: id, Disabled: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"disabled"}},
	}); err != nil {
		t.Fatal(err)
	}
	if ev := f.ev.last(); ev.GetChange() != eventsv1.ClientChanged_CHANGE_DISABLED {
		t.Fatalf("event %v", ev)
	}
	if v := verify(k2.GetApiKey()); v.GetFailure() != clientsv1.APIKeyFailure_API_KEY_FAILURE_CLIENT_DISABLED {
		t.Fatalf("disabled client's key: %v", v.GetFailure())
	}

	// Listing shows every key and no secret.
	list, err := f.r.ListAPIKeys(ctx, &clientsv1.ListAPIKeysRequest{ClientId: id})
	if err != nil || len(list.GetKeys()) != 3 {
		t.Fatalf("ListAPIKeys: %d keys, %v", len(list.GetKeys()), err)
	}
	if strings.Contains(list.String(), raw[21:]) {
		t.Fatal("a secret appears in ListAPIKeys")
	}
}

func TestAPIKeyLastUsedThrottled(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	created, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: partner()})
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.r.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: created.GetClient().GetClientId(), Scopes: []string{"orders:read"}})
	if err != nil {
		t.Fatal(err)
	}
	lastUsed := func() time.Time {
		k, err := f.store.GetAPIKey(ctx, key.GetKey().GetKeyId())
		if err != nil {
			t.Fatal(err)
		}
		return k.LastUsedAt
	}
	first := f.clock.Now()
	steps := []struct {
		advance time.Duration
		want    time.Time
	}{
		{0, first},
		{30 * time.Second, first},
		{31 * time.Second, first.Add(61 * time.Second)},
	}
	for _, s := range steps {
		f.clock.Advance(s.advance)
		if _, err := f.r.VerifyAPIKey(ctx, &clientsv1.VerifyAPIKeyRequest{ApiKey: key.GetApiKey()}); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); !got.Equal(s.want) {
			t.Fatalf("after +%v: last used %v, want %v", s.advance, got, s.want)
		}
	}
}

func TestUpdateClientMask(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	created, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: partner()})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetClient().GetClientId()
	tests := []struct {
		name  string
		paths []string
		patch *clientsv1.Client
		code  codes.Code
		check func(*clientsv1.Client) bool
	}{
		{"rename only", []string{"name"}, &clientsv1.Client{Name: "Renamed", Scopes: []string{}}, codes.OK,
			func(c *clientsv1.Client) bool { return c.GetName() == "Renamed" && len(c.GetScopes()) == 2 }},
		{"tier", []string{"rate_limit_tier"}, &clientsv1.Client{RateLimitTier: clientsv1.RateLimitTier_RATE_LIMIT_TIER_HIGH}, codes.OK,
			func(c *clientsv1.Client) bool {
				return c.GetRateLimitTier() == clientsv1.RateLimitTier_RATE_LIMIT_TIER_HIGH
			}},
		{"immutable field", []string{"client_id"}, &clientsv1.Client{}, codes.InvalidArgument, nil},
		{"type is immutable", []string{"type"}, &clientsv1.Client{}, codes.InvalidArgument, nil},
		{"empty mask", nil, &clientsv1.Client{}, codes.InvalidArgument, nil},
		{"invalid result", []string{"grant_types"}, &clientsv1.Client{GrantTypes: []string{"password"}}, codes.InvalidArgument, nil},
		{"resources, deduplicated in order", []string{"resources"},
			&clientsv1.Client{Resources: []string{"https://b.example/api", "http://127.0.0.1:9000/", "https://b.example/api"}}, codes.OK,
			func(c *clientsv1.Client) bool {
				return slices.Equal(c.GetResources(), []string{"https://b.example/api", "http://127.0.0.1:9000/"}) && c.GetName() == "Renamed"
			}},
		{"invalid resource", []string{"resources"}, &clientsv1.Client{Resources: []string{"https://a.example/#f"}}, codes.InvalidArgument, nil},
		{"clear resources", []string{"resources"}, &clientsv1.Client{}, codes.OK,
			func(c *clientsv1.Client) bool { return len(c.GetResources()) == 0 }},
		{"cookie delivery on a confidential client without refresh_token", []string{"refresh_token_delivery"},
			&clientsv1.Client{RefreshTokenDelivery: cookie}, codes.InvalidArgument, nil},
		{"unset delivery without refresh_token", []string{"refresh_token_delivery", "name"},
			&clientsv1.Client{Name: "Renamed"}, codes.OK,
			func(c *clientsv1.Client) bool {
				return c.GetRefreshTokenDelivery() == unset && c.GetName() == "Renamed"
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.patch.ClientId = id
			resp, err := f.r.UpdateClient(ctx, &clientsv1.UpdateClientRequest{Client: tc.patch, UpdateMask: &fieldmaskpb.FieldMask{Paths: tc.paths}})
			if status.Code(err) != tc.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, tc.code)
			}
			if tc.check != nil && !tc.check(resp.GetClient()) {
				t.Fatalf("update not applied as asked: %v", resp.GetClient())
			}
		})
	}
	if _, err := f.r.UpdateClient(ctx, &clientsv1.UpdateClientRequest{Client: &clientsv1.Client{ClientId: "c_nope", Name: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown client: %v", err)
	}
}

func TestScopes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		code codes.Code
	}{
		{"has space", codes.InvalidArgument},
		{`quo"te`, codes.InvalidArgument},
		{"", codes.InvalidArgument},
		{"gatehouse:mine", codes.InvalidArgument},
		{"orders:read", codes.AlreadyExists},
		{"openid", codes.AlreadyExists}, // seeded
		{"billing:read", codes.OK},
	} {
		_, err := f.r.CreateScope(ctx, &clientsv1.CreateScopeRequest{Scope: &clientsv1.Scope{Name: tc.name}})
		if status.Code(err) != tc.code {
			t.Fatalf("CreateScope(%q): %v, want %v", tc.name, err, tc.code)
		}
	}
	if _, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: partner()}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		code codes.Code
	}{
		{"orders:read", codes.FailedPrecondition},     // in use
		{"gatehouse:admin", codes.FailedPrecondition}, // system
		{"openid", codes.FailedPrecondition},          // system (OpenID Connect)
		{"profile", codes.FailedPrecondition},
		{"email", codes.FailedPrecondition},
		{"nope", codes.NotFound},
		{"billing:read", codes.OK},
	} {
		_, err := f.r.DeleteScope(ctx, &clientsv1.DeleteScopeRequest{Name: tc.name})
		if status.Code(err) != tc.code {
			t.Fatalf("DeleteScope(%q): %v, want %v", tc.name, err, tc.code)
		}
	}
}

func TestListClientsPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	want := map[string]bool{}
	for range 5 {
		c, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: partner()})
		if err != nil {
			t.Fatal(err)
		}
		want[c.GetClient().GetClientId()] = true
	}
	got := map[string]bool{}
	token := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		resp, err := f.r.ListClients(ctx, &clientsv1.ListClientsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range resp.GetClients() {
			if got[c.GetClientId()] {
				t.Fatal("a client appears twice")
			}
			got[c.GetClientId()] = true
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d clients, want %d", len(got), len(want))
	}
	for _, bad := range []*clientsv1.ListClientsRequest{{PageSize: -1}, {PageSize: 501}, {PageToken: "!!"}} {
		if _, err := f.r.ListClients(ctx, bad); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("ListClients(%v): %v", bad, err)
		}
	}
}

func TestBootstrapOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var saved []string
	save := func(raw string) error { saved = append(saved, raw); return nil }
	created, err := f.r.Bootstrap(ctx, save)
	if err != nil || !created || len(saved) != 1 {
		t.Fatalf("first bootstrap: %v %v %d", created, err, len(saved))
	}
	v, err := f.r.VerifyAPIKey(ctx, &clientsv1.VerifyAPIKeyRequest{ApiKey: saved[0]})
	if err != nil || v.GetFailure() != 0 || strings.Join(v.GetScopes(), " ") != clients.AdminScope {
		t.Fatalf("bootstrap key: %v %v", v, err)
	}
	created, err = f.r.Bootstrap(ctx, save)
	if err != nil || created || len(saved) != 1 {
		t.Fatalf("second bootstrap: %v %v %d", created, err, len(saved))
	}

	// A failure to save leaves nothing behind.
	g := newFixture(t)
	if _, err := g.r.Bootstrap(ctx, func(string) error { return errors.New("disk full") }); err == nil {
		t.Fatal("bootstrap succeeded without saving the key")
	}
	if _, err := g.r.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: clients.AdminClientID}); status.Code(err) != codes.NotFound {
		t.Fatalf("admin client exists after a failed save: %v", err)
	}
}

func TestClientResourcesRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := partner()
	c.Resources = []string{"https://api.example/orders", "https://api.example/orders", "http://[::1]:8443/x?y=1"}
	created, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://api.example/orders", "http://[::1]:8443/x?y=1"}
	if got := created.GetClient().GetResources(); !slices.Equal(got, want) {
		t.Fatalf("created resources %q, want %q", got, want)
	}
	got, err := f.r.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: created.GetClient().GetClientId()})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.GetClient().GetResources(), want) {
		t.Fatalf("stored resources %q, want %q", got.GetClient().GetResources(), want)
	}
}

func TestRefreshTokenDeliveryOnCreate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	edited := func(c *clientsv1.Client, edit func(*clientsv1.Client)) *clientsv1.Client { edit(c); return c }
	tests := []struct {
		name   string
		client *clientsv1.Client
		want   clientsv1.RefreshTokenDelivery
	}{
		{"public first-party SPA: body by default", spa(), body},
		{"confidential client with refresh_token: body by default", edited(spa(), func(c *clientsv1.Client) { c.Public = false }), body},
		{"body asked", edited(spa(), func(c *clientsv1.Client) { c.RefreshTokenDelivery = body }), body},
		{"without refresh_token: none", edited(spa(), func(c *clientsv1.Client) { c.GrantTypes = []string{"authorization_code"} }), unset},
		{"client_credentials: none", partner(), unset},
		{"cookie on a public first-party SPA", edited(spa(), func(c *clientsv1.Client) { c.RefreshTokenDelivery = cookie }), cookie},
		// Browsers send cookies to a loopback http origin too (development).
		{"cookie on a SPA served from loopback", edited(spa(), func(c *clientsv1.Client) {
			c.RedirectUris, c.RefreshTokenDelivery = []string{"http://127.0.0.1:5173/cb"}, cookie
		}), cookie},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			created, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: tc.client})
			if err != nil {
				t.Fatal(err)
			}
			if got := created.GetClient().GetRefreshTokenDelivery(); got != tc.want {
				t.Fatalf("created with delivery %v, want %v", got, tc.want)
			}
			got, err := f.r.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: created.GetClient().GetClientId()})
			if err != nil {
				t.Fatal(err)
			}
			if d := got.GetClient().GetRefreshTokenDelivery(); d != tc.want {
				t.Fatalf("stored delivery %v, want %v", d, tc.want)
			}
		})
	}
}

func TestRefreshTokenDeliveryOnUpdate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	created, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: spa()})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetClient().GetClientId()
	withRefresh := []string{"authorization_code", "refresh_token"}
	codeOnly := []string{"authorization_code"}
	steps := []struct {
		name  string
		paths []string
		patch *clientsv1.Client
		field string // refused on this field; "" for accepted
		want  clientsv1.RefreshTokenDelivery
	}{
		{"to cookie", []string{"refresh_token_delivery"}, &clientsv1.Client{RefreshTokenDelivery: cookie}, "", cookie},
		{"other fields keep cookie", []string{"name"}, &clientsv1.Client{Name: "SPA 2"}, "", cookie},
		{"a cookie client cannot silently lose the grant", []string{"grant_types"}, &clientsv1.Client{GrantTypes: codeOnly}, "refresh_token_delivery", cookie},
		{"cookie on a confidential method", []string{"token_endpoint_auth_method"}, &clientsv1.Client{TokenEndpointAuthMethod: "client_secret_basic"}, "token_endpoint_auth_method", cookie},
		{"unset with the grant removed", []string{"grant_types", "refresh_token_delivery"}, &clientsv1.Client{GrantTypes: codeOnly}, "", unset},
		{"cookie without the grant", []string{"refresh_token_delivery"}, &clientsv1.Client{RefreshTokenDelivery: cookie}, "refresh_token_delivery", unset},
		{"adding the grant gives body", []string{"grant_types"}, &clientsv1.Client{GrantTypes: withRefresh}, "", body},
		{"body follows the grant away", []string{"grant_types"}, &clientsv1.Client{GrantTypes: codeOnly}, "", unset},
		{"grant and cookie together", []string{"grant_types", "refresh_token_delivery"}, &clientsv1.Client{GrantTypes: withRefresh, RefreshTokenDelivery: cookie}, "", cookie},
		{"unset resets cookie to body", []string{"refresh_token_delivery"}, &clientsv1.Client{}, "", body},
		{"body explicitly", []string{"refresh_token_delivery"}, &clientsv1.Client{RefreshTokenDelivery: body}, "", body},
	}
	for _, st := range steps {
		st.patch.ClientId = id
		resp, err := f.r.UpdateClient(ctx, &clientsv1.UpdateClientRequest{Client: st.patch, UpdateMask: &fieldmaskpb.FieldMask{Paths: st.paths}})
		if st.field != "" {
			if got := badField(t, err); got != st.field {
				t.Fatalf("%s: refused on %q (%v), want %q", st.name, got, err, st.field)
			}
		} else if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		} else if got := resp.GetClient().GetRefreshTokenDelivery(); got != st.want {
			t.Fatalf("%s: delivery %v, want %v", st.name, got, st.want)
		}
		stored, err := f.r.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: id})
		if err != nil {
			t.Fatal(err)
		}
		if got := stored.GetClient().GetRefreshTokenDelivery(); got != st.want {
			t.Fatalf("%s: stored delivery %v, want %v", st.name, got, st.want)
		}
	}
}

// nativeApp is a mobile app of the platform's own: a public first-party
// client with a private-use scheme redirect (RFC 8252 §7.1).
func nativeApp() *clientsv1.Client {
	return &clientsv1.Client{
		Name:         "Mobile",
		Type:         clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY,
		Public:       true,
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectUris: []string{"com.example.app:/oauth2redirect", "https://app.example/native-cb"},
		Scopes:       []string{"openid", "profile", "orders:read"},
	}
}

func TestNativeAppRegistration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	created, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: nativeApp()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.r.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: created.GetClient().GetClientId()})
	if err != nil {
		t.Fatal(err)
	}
	if c := got.GetClient(); !slices.Equal(c.GetRedirectUris(), nativeApp().GetRedirectUris()) || c.GetRefreshTokenDelivery() != body {
		t.Fatalf("stored native app: %v", c)
	}
	// Changing it into a confidential client is refused while it keeps
	// the private-use redirect.
	_, err = f.r.UpdateClient(ctx, &clientsv1.UpdateClientRequest{
		Client:     &clientsv1.Client{ClientId: got.GetClient().GetClientId(), TokenEndpointAuthMethod: "client_secret_basic"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"token_endpoint_auth_method"}},
	})
	if field := badField(t, err); field != "token_endpoint_auth_method" {
		t.Fatalf("update to a secret: refused on %q, want token_endpoint_auth_method", field)
	}
	// Two redirects with one private-use scheme are refused.
	c := nativeApp()
	c.RedirectUris = []string{"com.example.app:/a", "com.example.app:/b"}
	_, err = f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: c})
	if field := badField(t, err); field != "redirect_uris" {
		t.Fatalf("one scheme twice: refused on %q, want redirect_uris", field)
	}
}

func TestOpenIDClientSettings(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := nativeApp()
	c.PostLogoutRedirectUris = []string{"com.example.app:/logged-out", "https://app.example/bye", "https://app.example/bye"}
	c.BackchannelLogoutUri = "https://app.example/backchannel?tenant=a"
	c.BackchannelLogoutSessionRequired = true
	c.IdTokenLifetime = durationpb.New(15 * time.Minute)
	created, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetClient().GetClientId()
	wantPostLogout := []string{"com.example.app:/logged-out", "https://app.example/bye"} // deduplicated, in order
	for what, got := range map[string]*clientsv1.Client{"created": created.GetClient(), "stored": get(t, f, id)} {
		if !slices.Equal(got.GetPostLogoutRedirectUris(), wantPostLogout) ||
			got.GetBackchannelLogoutUri() != "https://app.example/backchannel?tenant=a" || !got.GetBackchannelLogoutSessionRequired() ||
			got.GetIdTokenLifetime().AsDuration() != 15*time.Minute {
			t.Fatalf("%s client: %v", what, got)
		}
	}

	// Without them, the ID token lifetime is unset (the server default).
	plain, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: spa()})
	if err != nil {
		t.Fatal(err)
	}
	if p := get(t, f, plain.GetClient().GetClientId()); p.GetIdTokenLifetime() != nil || len(p.GetPostLogoutRedirectUris()) != 0 ||
		p.GetBackchannelLogoutUri() != "" || p.GetBackchannelLogoutSessionRequired() {
		t.Fatalf("client without OpenID Connect settings: %v", p)
	}

	steps := []struct {
		name  string
		paths []string
		patch *clientsv1.Client
		field string // refused on this field; "" for accepted
		check func(*clientsv1.Client) bool
	}{
		{"post-logout URIs alone", []string{"post_logout_redirect_uris"}, &clientsv1.Client{PostLogoutRedirectUris: []string{"https://app.example/bye2"}}, "",
			func(c *clientsv1.Client) bool {
				return slices.Equal(c.GetPostLogoutRedirectUris(), []string{"https://app.example/bye2"}) && c.GetBackchannelLogoutSessionRequired()
			}},
		{"ID token lifetime", []string{"id_token_lifetime"}, &clientsv1.Client{IdTokenLifetime: durationpb.New(time.Minute)}, "",
			func(c *clientsv1.Client) bool { return c.GetIdTokenLifetime().AsDuration() == time.Minute }},
		{"ID token lifetime back to the default", []string{"id_token_lifetime"}, &clientsv1.Client{}, "",
			func(c *clientsv1.Client) bool { return c.GetIdTokenLifetime() == nil }},
		{"ID token lifetime out of range", []string{"id_token_lifetime"}, &clientsv1.Client{IdTokenLifetime: durationpb.New(30 * time.Second)}, "id_token_lifetime", nil},
		{"back-channel URI cleared, session still required", []string{"backchannel_logout_uri"}, &clientsv1.Client{}, "backchannel_logout_session_required", nil},
		{"back-channel URI and session cleared together", []string{"backchannel_logout_uri", "backchannel_logout_session_required"}, &clientsv1.Client{}, "",
			func(c *clientsv1.Client) bool {
				return c.GetBackchannelLogoutUri() == "" && !c.GetBackchannelLogoutSessionRequired()
			}},
		{"back-channel URI with a fragment", []string{"backchannel_logout_uri"}, &clientsv1.Client{BackchannelLogoutUri: "https://app.example/bc#f"}, "backchannel_logout_uri", nil},
		{"back-channel URI set", []string{"backchannel_logout_uri"}, &clientsv1.Client{BackchannelLogoutUri: "http://127.0.0.1:9000/bc"}, "",
			func(c *clientsv1.Client) bool { return c.GetBackchannelLogoutUri() == "http://127.0.0.1:9000/bc" }},
		{"too many post-logout URIs", []string{"post_logout_redirect_uris"}, &clientsv1.Client{PostLogoutRedirectUris: manyURIs(21)}, "post_logout_redirect_uris", nil},
		{"post-logout URIs cleared", []string{"post_logout_redirect_uris"}, &clientsv1.Client{}, "",
			func(c *clientsv1.Client) bool { return len(c.GetPostLogoutRedirectUris()) == 0 }},
	}
	for _, st := range steps {
		before := get(t, f, id)
		st.patch.ClientId = id
		resp, err := f.r.UpdateClient(ctx, &clientsv1.UpdateClientRequest{Client: st.patch, UpdateMask: &fieldmaskpb.FieldMask{Paths: st.paths}})
		if st.field != "" {
			if got := badField(t, err); got != st.field {
				t.Fatalf("%s: refused on %q (%v), want %q", st.name, got, err, st.field)
			}
			if after := get(t, f, id); !proto.Equal(after, before) {
				t.Fatalf("%s: a refused update changed the client:\n%v\n%v", st.name, before, after)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !st.check(resp.GetClient()) || !proto.Equal(resp.GetClient(), get(t, f, id)) {
			t.Fatalf("%s: %v", st.name, resp.GetClient())
		}
	}

	// A client that drops authorization_code clears its OpenID Connect
	// settings in the same update.
	web := &clientsv1.Client{
		Name: "Web", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY,
		GrantTypes: []string{"authorization_code", "client_credentials"}, RedirectUris: []string{"https://web.example/cb"},
		BackchannelLogoutUri: "https://web.example/bc", IdTokenLifetime: durationpb.New(time.Hour),
	}
	created, err = f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: web})
	if err != nil {
		t.Fatal(err)
	}
	webID := created.GetClient().GetClientId()
	machine := &clientsv1.Client{ClientId: webID, GrantTypes: []string{"client_credentials"}}
	_, err = f.r.UpdateClient(ctx, &clientsv1.UpdateClientRequest{Client: machine, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"grant_types", "redirect_uris"}}})
	if field := badField(t, err); field != "backchannel_logout_uri" {
		t.Fatalf("dropping authorization_code with a back-channel URI: refused on %q, want backchannel_logout_uri", field)
	}
	_, err = f.r.UpdateClient(ctx, &clientsv1.UpdateClientRequest{Client: machine, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"grant_types", "redirect_uris", "backchannel_logout_uri"}}})
	if field := badField(t, err); field != "id_token_lifetime" {
		t.Fatalf("dropping authorization_code with an ID token lifetime: refused on %q, want id_token_lifetime", field)
	}
	resp, err := f.r.UpdateClient(ctx, &clientsv1.UpdateClientRequest{Client: machine, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{
		"grant_types", "redirect_uris", "backchannel_logout_uri", "id_token_lifetime",
	}}})
	if err != nil || resp.GetClient().GetBackchannelLogoutUri() != "" || resp.GetClient().GetIdTokenLifetime() != nil {
		t.Fatalf("dropping authorization_code and its settings: %v %v", resp, err)
	}
}

func get(t *testing.T, f *fixture, id string) *clientsv1.Client {
	t.Helper()
	resp, err := f.r.GetClient(context.Background(), &clientsv1.GetClientRequest{ClientId: id})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetClient()
}

func manyURIs(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("https://app.example/bye/%d", i))
	}
	return out
}

// TestStandardScopes: openid, profile and email are system scopes of every
// catalogue; a third-party client has them only when registered for them.
func TestStandardScopes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	list, err := f.r.ListScopes(ctx, &clientsv1.ListScopesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]*clientsv1.Scope{}
	for _, s := range list.GetScopes() {
		seen[s.GetName()] = s
	}
	for _, name := range []string{clients.ScopeOpenID, clients.ScopeProfile, clients.ScopeEmail} {
		s := seen[name]
		if s == nil || !s.GetSystem() || s.GetDescription() == "" || !clients.IsStandardScope(name) {
			t.Errorf("scope %s: %v, want a system scope with a description", name, s)
		}
	}
	if clients.IsStandardScope("gatehouse:admin") || clients.IsStandardScope("orders:read") {
		t.Error("IsStandardScope of a scope that is not OpenID Connect's")
	}
	// Seeding again changes nothing, descriptions an admin sees included.
	if err := f.r.SeedScopes(ctx, nil); err != nil {
		t.Fatal(err)
	}
	again, err := f.r.ListScopes(ctx, &clientsv1.ListScopesRequest{})
	if err != nil || !proto.Equal(again, list) {
		t.Fatalf("second seeding changed the catalogue: %v %v", again, err)
	}

	// A third party is registered for them like for any scope.
	third := &clientsv1.Client{
		Name: "Partner app", Type: clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY,
		GrantTypes: []string{"authorization_code"}, RedirectUris: []string{"https://partner.example/cb"},
		Scopes: []string{"openid", "email"},
	}
	created, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: third})
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, f, created.GetClient().GetClientId()).GetScopes(); !slices.Equal(got, []string{"email", "openid"}) {
		t.Fatalf("third-party scopes %v, want [email openid]", got)
	}
	other, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: partner()})
	if err != nil {
		t.Fatal(err)
	}
	if got := other.GetClient().GetScopes(); slices.ContainsFunc(got, clients.IsStandardScope) {
		t.Fatalf("a client not registered for them has OpenID Connect scopes: %v", got)
	}
	// In use or not, they cannot be deleted.
	for _, name := range []string{"openid", "profile"} {
		if _, err := f.r.DeleteScope(ctx, &clientsv1.DeleteScopeRequest{Name: name}); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("DeleteScope(%s): %v, want FailedPrecondition", name, err)
		}
	}
}

// TestGetClientValidatorView: a caller with gatehouse:validator alone reads
// what validating needs of a client, not where it redirects or logs out;
// admins and Gatehouse's own services read the whole client.
func TestGetClientValidatorView(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.r.SeedScopes(ctx, []string{clients.ValidatorScope}); err != nil {
		t.Fatal(err)
	}
	scopes, err := f.r.ListScopes(ctx, &clientsv1.ListScopesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(scopes.GetScopes(), func(s *clientsv1.Scope) bool { return s.GetName() == clients.ValidatorScope }); i < 0 ||
		!strings.Contains(scopes.GetScopes()[i].GetDescription(), "revocation list") {
		t.Fatalf("%s not seeded with its description: %v", clients.ValidatorScope, scopes.GetScopes())
	}
	app := spa()
	app.PostLogoutRedirectUris = []string{"https://app.example/bye"}
	app.RateLimitTier = clientsv1.RateLimitTier_RATE_LIMIT_TIER_HIGH
	created, err := f.r.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: app})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetClient().GetClientId()
	full := created.GetClient()
	validatorView := &clientsv1.Client{
		ClientId: id, Name: full.GetName(), Type: full.GetType(), Public: full.GetPublic(), Scopes: full.GetScopes(),
		TokenEndpointAuthMethod: full.GetTokenEndpointAuthMethod(), RateLimitTier: full.GetRateLimitTier(),
	}
	tests := []struct {
		name   string
		scopes []string // nil: no principal (an in-process caller)
		want   *clientsv1.Client
	}{
		{"validator", []string{clients.ValidatorScope}, validatorView},
		{"internal", []string{clients.InternalScope}, full},
		{"admin", []string{clients.AdminScope}, full},
		{"validator and internal", []string{clients.ValidatorScope, clients.InternalScope}, full},
		{"in process", nil, full},
		// The token service calls in process with its own caller's
		// context: that principal's scopes say nothing of the view.
		{"in process under another caller's request", []string{"orders:read"}, full},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctx
			if tc.scopes != nil {
				ctx = authn.NewContext(ctx, &authn.Principal{ClientID: "caller", Scopes: tc.scopes})
			}
			got, err := f.r.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: id})
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got.GetClient(), tc.want) {
				t.Fatalf("got %v\nwant %v", got.GetClient(), tc.want)
			}
		})
	}
}

// TestMintAdminKey: an admin key is made in the store, with its name, on
// a store without the admin client as on one with it; it verifies with
// gatehouse:admin and is listed like any key; a name is required.
func TestMintAdminKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, k1, err := f.r.MintAdminKey(ctx, "first operator")
	if err != nil {
		t.Fatal(err)
	}
	second, k2, err := f.r.MintAdminKey(ctx, "  recovery job  ")
	if err != nil {
		t.Fatal(err)
	}
	if k2.Description != "recovery job" || k1.KeyID == k2.KeyID || first == second {
		t.Fatalf("keys %+v %+v", k1, k2)
	}
	for _, raw := range []string{first, second} {
		v, err := f.r.VerifyAPIKey(ctx, &clientsv1.VerifyAPIKeyRequest{ApiKey: raw})
		if err != nil || v.GetFailure() != clientsv1.APIKeyFailure_API_KEY_FAILURE_UNSPECIFIED ||
			v.GetClientId() != clients.AdminClientID || !slices.Equal(v.GetScopes(), []string{clients.AdminScope}) {
			t.Fatalf("verify: %v %v", v, err)
		}
	}
	list, err := f.r.ListAPIKeys(ctx, &clientsv1.ListAPIKeysRequest{ClientId: clients.AdminClientID})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range list.GetKeys() {
		names = append(names, k.GetDescription())
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"first operator", "recovery job"}) {
		t.Fatalf("listed keys %v", names)
	}
	for _, name := range []string{"", "   ", strings.Repeat("n", 201)} {
		if _, _, err := f.r.MintAdminKey(ctx, name); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}
