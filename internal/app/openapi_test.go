package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apiclient"
	"github.com/gatehouse-dev/gatehouse/internal/openapigen"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop/dpoptest"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	validationerrors "github.com/pb33f/libopenapi-validator/errors"
)

// A Go client generated with oapi-codegen from the document the server
// serves calls the API as documented: the committed client
// (internal/apiclient, make gen) is what the served document generates,
// and with it an admin registers a client and an API key, and the client
// uses the inventory API with the key (reads), a DPoP-bound token (writes)
// and a token from the token endpoint, reads the metadata and keys, and revokes its token. Every
// exchange is checked against the document with libopenapi-validator: the
// request and answer of a success, the answer of a refusal (whose request
// breaks the document on purpose).
func TestOpenAPIClientCallsTheInventoryAPI(t *testing.T) {
	a, admin := startApp(t, "--example-inventory")
	base := "http://" + a.HTTPAddr()
	ctx := t.Context()

	served := httpGet(t, base+"/openapi.json")
	code, err := openapigen.ClientCode(served)
	if err != nil {
		t.Fatalf("generate a client from the served document: %v", err)
	}
	committed, err := os.ReadFile("../apiclient/apiclient.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(code, committed) {
		t.Fatal("internal/apiclient is not the client oapi-codegen generates from the served document: run make gen")
	}

	c, err := apiclient.NewClientWithResponses(base, apiclient.WithHTTPClient(&http.Client{Transport: conforming(t, served)}))
	if err != nil {
		t.Fatal(err)
	}
	header := func(name, value string) apiclient.RequestEditorFn {
		return func(_ context.Context, r *http.Request) error {
			r.Header.Set(name, value)
			return nil
		}
	}
	asAdmin := header("X-API-Key", admin)

	anon, err := c.InventoryServiceListItemsWithResponse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if anon.StatusCode() != http.StatusUnauthorized || anon.JSON401 == nil {
		t.Fatalf("without a credential: %d %s, want the documented 401", anon.StatusCode(), anon.Body)
	}

	scopes := []string{"inventory:read", "inventory:write"}
	cr, err := c.ClientRegistryServiceCreateClientWithResponse(ctx, apiclient.V1Client{
		Name:       new("openapi-client"),
		Type:       new(apiclient.CLIENTTYPEFIRSTPARTY),
		GrantTypes: &[]string{"client_credentials"},
		Scopes:     &scopes,
	}, asAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if cr.JSON200 == nil || cr.JSON200.Client == nil || cr.JSON200.Client.ClientId == nil || cr.JSON200.ClientSecret == nil {
		t.Fatalf("create client: %d %s", cr.StatusCode(), cr.Body)
	}
	clientID, secret := *cr.JSON200.Client.ClientId, *cr.JSON200.ClientSecret
	kr, err := c.ClientRegistryServiceCreateAPIKeyWithResponse(ctx, clientID,
		apiclient.ClientRegistryServiceCreateAPIKeyBody{Scopes: &scopes}, asAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if kr.JSON200 == nil || kr.JSON200.ApiKey == nil {
		t.Fatalf("create API key: %d %s", kr.StatusCode(), kr.Body)
	}
	withKey := header("X-API-Key", *kr.JSON200.ApiKey)

	// Writes take a sender-constrained token only: the key is refused as
	// documented, a DPoP-bound token from the token endpoint is taken.
	refused, err := c.InventoryServiceCreateItemWithResponse(ctx, apiclient.V1Item{Name: new("widget")}, withKey)
	if err != nil {
		t.Fatal(err)
	}
	if refused.StatusCode() != http.StatusUnauthorized || refused.JSON401 == nil {
		t.Fatalf("create with an API key: %d %s, want the documented 401", refused.StatusCode(), refused.Body)
	}
	basic := func(_ context.Context, r *http.Request) error {
		r.SetBasicAuth(clientID, secret)
		return nil
	}
	dk := dpoptest.NewKey(t)
	var bound string
	for nonce, try := "", 0; bound == "" && try < 2; try++ {
		proof := dk.Proof(t, http.MethodPost, base+"/oauth2/token", nonce, "")
		tr, err := c.OAuth2TokenWithFormdataBodyWithResponse(ctx, &apiclient.OAuth2TokenParams{DPoP: &proof}, apiclient.OAuthTokenRequest{
			GrantType: apiclient.OAuthTokenRequestGrantTypeClientCredentials,
			Scope:     new("inventory:read inventory:write"),
		}, basic)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case tr.JSON200 != nil && tr.JSON200.TokenType == "DPoP":
			bound = tr.JSON200.AccessToken
		case tr.StatusCode() == http.StatusBadRequest && tr.HTTPResponse.Header.Get("DPoP-Nonce") != "":
			nonce = tr.HTTPResponse.Header.Get("DPoP-Nonce")
		default:
			t.Fatalf("DPoP token: %d %s", tr.StatusCode(), tr.Body)
		}
	}
	withProof := func(method, u string) apiclient.RequestEditorFn {
		return func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "DPoP "+bound)
			r.Header.Set("DPoP", dk.Proof(t, method, u, "", bound))
			return nil
		}
	}

	created, err := c.InventoryServiceCreateItemWithResponse(ctx, apiclient.V1Item{Name: new("widget"), Quantity: new("3")},
		withProof(http.MethodPost, base+"/v1/inventory/items"))
	if err != nil {
		t.Fatal(err)
	}
	if created.JSON200 == nil || created.JSON200.Item == nil || created.JSON200.Item.Id == nil {
		t.Fatalf("create item: %d %s", created.StatusCode(), created.Body)
	}
	id := *created.JSON200.Item.Id
	updated, err := c.InventoryServiceUpdateItemWithResponse(ctx, id,
		apiclient.InventoryServiceUpdateItemJSONRequestBody{Name: new("widget"), Quantity: new("5")},
		withProof(http.MethodPatch, base+"/v1/inventory/items/"+id))
	if err != nil {
		t.Fatal(err)
	}
	if updated.JSON200 == nil || updated.JSON200.Item == nil || deref(updated.JSON200.Item.Quantity) != "5" {
		t.Fatalf("update item %s: %d %s", id, updated.StatusCode(), updated.Body)
	}
	got, err := c.InventoryServiceGetItemWithResponse(ctx, id, withKey)
	if err != nil {
		t.Fatal(err)
	}
	if got.JSON200 == nil || got.JSON200.Item == nil || deref(got.JSON200.Item.Quantity) != "5" || deref(got.JSON200.Item.UpdatedBy) != clientID {
		t.Fatalf("get item %s: %d %s", id, got.StatusCode(), got.Body)
	}
	missing, err := c.InventoryServiceGetItemWithResponse(ctx, "no-such-item", withKey)
	if err != nil {
		t.Fatal(err)
	}
	if missing.StatusCode() != http.StatusNotFound || missing.JSON404 == nil {
		t.Fatalf("get a missing item: %d %s, want the documented 404", missing.StatusCode(), missing.Body)
	}

	// A token from the documented token endpoint, with the read scope only.
	tr, err := c.OAuth2TokenWithFormdataBodyWithResponse(ctx, nil, apiclient.OAuthTokenRequest{
		GrantType: apiclient.OAuthTokenRequestGrantTypeClientCredentials,
		Scope:     new("inventory:read"),
	}, basic)
	if err != nil {
		t.Fatal(err)
	}
	if tr.JSON200 == nil || tr.JSON200.AccessToken == "" {
		t.Fatalf("token: %d %s", tr.StatusCode(), tr.Body)
	}
	bearer := header("Authorization", "Bearer "+tr.JSON200.AccessToken)
	list, err := c.InventoryServiceListItemsWithResponse(ctx, bearer)
	if err != nil {
		t.Fatal(err)
	}
	if list.JSON200 == nil || list.JSON200.Items == nil ||
		!slices.ContainsFunc(*list.JSON200.Items, func(it apiclient.V1Item) bool { return deref(it.Id) == id }) {
		t.Fatalf("list items with the token: %d %s", list.StatusCode(), list.Body)
	}
	denied, err := c.InventoryServiceCreateItemWithResponse(ctx, apiclient.V1Item{Name: new("gadget")}, bearer)
	if err != nil {
		t.Fatal(err)
	}
	if denied.StatusCode() != http.StatusForbidden || denied.JSON403 == nil {
		t.Fatalf("create with a read-only token: %d %s, want the documented 403", denied.StatusCode(), denied.Body)
	}

	// The metadata and keys, at the documented paths.
	disc, err := c.OpenIDConnectDiscoveryWithResponse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if disc.JSON200 == nil || disc.JSON200.TokenEndpoint != base+"/oauth2/token" {
		t.Fatalf("OpenID Connect discovery: %d %s", disc.StatusCode(), disc.Body)
	}
	meta, err := c.OAuth2ServerMetadataWithResponse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if meta.JSON200 == nil || meta.JSON200.Issuer != base {
		t.Fatalf("RFC 8414 metadata: %d %s", meta.StatusCode(), meta.Body)
	}
	keys, err := c.OAuth2JWKSWithResponse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if keys.JSON200 == nil || len(keys.JSON200.Keys) == 0 {
		t.Fatalf("JWKS: %d %s", keys.StatusCode(), keys.Body)
	}

	// The client revokes its token at the documented endpoint, and the
	// token stops working.
	rv, err := c.OAuth2RevokeWithFormdataBodyWithResponse(ctx,
		apiclient.OAuthRevocationRequest{Token: tr.JSON200.AccessToken}, basic)
	if err != nil {
		t.Fatal(err)
	}
	if rv.StatusCode() != http.StatusOK {
		t.Fatalf("revoke: %d %s", rv.StatusCode(), rv.Body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		after, err := c.InventoryServiceListItemsWithResponse(ctx, bearer)
		if err != nil {
			t.Fatal(err)
		}
		if after.StatusCode() == http.StatusUnauthorized && after.JSON401 != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list with the revoked token: %d %s, want the documented 401", after.StatusCode(), after.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// conforming is a transport that fails the test when an exchange does not
// conform to doc.
func conforming(t *testing.T, doc []byte) http.RoundTripper {
	t.Helper()
	ldoc, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(ldoc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		var body []byte
		if req.Body != nil {
			if body, err = io.ReadAll(req.Body); err != nil {
				return nil, err
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		respBody, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		check := req.Clone(req.Context())
		check.Body = io.NopCloser(bytes.NewReader(body))
		resp.Body = io.NopCloser(bytes.NewReader(respBody))
		var ok bool
		var verrs []*validationerrors.ValidationError
		if resp.StatusCode < http.StatusBadRequest {
			ok, verrs = v.ValidateHttpRequestResponse(check, resp)
		} else {
			ok, verrs = v.ValidateHttpResponse(check, resp)
		}
		if !ok {
			for _, e := range verrs {
				t.Errorf("%s %s -> %d does not conform to the document: %s: %s", req.Method, req.URL.Path, resp.StatusCode, e.Message, e.Reason)
				for _, se := range e.SchemaValidationErrors {
					t.Errorf("  at %s: %s", se.FieldPath, se.Reason)
				}
			}
		}
		resp.Body = io.NopCloser(bytes.NewReader(respBody))
		return resp, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
