package conformance

import (
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/clients"
)

// zone is deliberately not UTC: stores must hand back UTC whatever they
// were given.
var zone = time.FixedZone("UTC+05:30", 5*3600+30*60)

// t0 carries nanoseconds, which every backend truncates to microseconds.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 123456789, zone)

// catalogue is the scope set every test starts with.
var catalogue = []string{"admin", "read", "write"}

type env struct {
	t   *testing.T
	ctx context.Context
	s   clients.Store
}

func setup(t *testing.T, newStore func(t *testing.T) clients.Store) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), s: newStore(t)}
	var scopes []clients.Scope
	for _, name := range catalogue {
		scopes = append(scopes, clients.Scope{Name: name, Description: "scope " + name, CreatedAt: t0})
	}
	if err := e.s.EnsureScopes(e.ctx, scopes); err != nil {
		t.Fatalf("EnsureScopes: %v", err)
	}
	return e
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func sampleClient(id string, created time.Time) clients.Client {
	return clients.Client{
		ID:           id,
		Name:         "Client " + id,
		Type:         clients.ThirdParty,
		GrantTypes:   []string{clients.GrantAuthorizationCode, clients.GrantRefreshToken},
		RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1:8080/cb"},
		Scopes:       []string{"write", "read"},
		AuthMethod:   clients.AuthSelfSignedTLSClient,
		TLS: clients.TLSClientAuth{
			SubjectDN:              "CN=app,O=Example",
			SANDNS:                 "app.example",
			SANURI:                 "spiffe://example/app",
			SANIP:                  "192.0.2.1",
			SANEmail:               "ops@app.example",
			CertificateThumbprints: []string{"A4-xkjTKHRPZlJXKDqgSTBCIuOCsG4M_RRRpFk8eW10", "B4-xkjTKHRPZlJXKDqgSTBCIuOCsG4M_RRRpFk8eW10"},
			BoundAccessTokens:      true,
		},
		AccessTokenLifetime: 15*time.Minute + 1500*time.Millisecond,
		RateLimitTier:       "high",
		Disabled:            false,
		RequireConsent:      true,
		Resources:           []string{"https://api.example/orders", "http://127.0.0.1:9000/"},
		// Not the default: a store that drops the column fails the
		// round trip.
		RefreshTokenDelivery: clients.RefreshTokenDeliveryCookie,
		// None of them zero, for the same reason.
		PostLogoutRedirectURIs:             []string{"https://app.example/bye", "com.example.app:/logged-out"},
		BackchannelLogoutURI:               "https://app.example/backchannel?tenant=a",
		BackchannelLogoutSessionRequired:   true,
		IDTokenLifetime:                    7*time.Minute + 250*time.Millisecond,
		DPoPBoundAccessTokens:              true,
		RequirePushedAuthorizationRequests: true,
		CreatedAt:                          created,
		UpdatedAt:                          created.Add(time.Second + 7*time.Nanosecond),
	}
}

func sampleSecret(clientID string, created time.Time) clients.Secret {
	return clients.Secret{ClientID: clientID, Hash: hashOf(clientID + created.String()), CreatedAt: created}
}

func sampleKey(keyID, clientID string, created time.Time, scopes ...string) clients.APIKey {
	return clients.APIKey{
		KeyID:       keyID,
		ClientID:    clientID,
		SecretHash:  hashOf("key " + keyID),
		Scopes:      scopes,
		Description: "key " + keyID,
		CreatedAt:   created,
	}
}

// Normal forms: what a store is expected to return for a value it was given.

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

func normList(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// normSet is for scopes, which are a set: their order is not part of the
// contract.
func normSet(v []string) []string {
	return slices.Sorted(slices.Values(normList(v)))
}

func normClient(c clients.Client) clients.Client {
	c.GrantTypes = normList(c.GrantTypes)
	c.RedirectURIs = normList(c.RedirectURIs)
	c.Scopes = normSet(c.Scopes)
	c.TLS.CertificateThumbprints = normList(c.TLS.CertificateThumbprints)
	c.Resources = normList(c.Resources)
	c.PostLogoutRedirectURIs = normList(c.PostLogoutRedirectURIs)
	c.CreatedAt, c.UpdatedAt = normTime(c.CreatedAt), normTime(c.UpdatedAt)
	return c
}

func normSecret(s clients.Secret) clients.Secret {
	s.CreatedAt, s.ExpiresAt = normTime(s.CreatedAt), normTime(s.ExpiresAt)
	return s
}

func normKey(k clients.APIKey) clients.APIKey {
	k.Scopes = normSet(k.Scopes)
	k.ExpiresAt, k.CreatedAt = normTime(k.ExpiresAt), normTime(k.CreatedAt)
	k.LastUsedAt, k.RevokedAt = normTime(k.LastUsedAt), normTime(k.RevokedAt)
	return k
}

func normScope(s clients.Scope) clients.Scope {
	s.CreatedAt = normTime(s.CreatedAt)
	return s
}

// checkUTC and checkNonNil check what the normal forms would hide.

func checkUTC(t *testing.T, what string, ts ...time.Time) {
	t.Helper()
	for _, tm := range ts {
		if tm.Location() != time.UTC {
			t.Errorf("%s: time %v is in %v, want UTC", what, tm, tm.Location())
		}
		if !tm.Equal(tm.Truncate(time.Microsecond)) {
			t.Errorf("%s: time %v has sub-microsecond digits", what, tm)
		}
	}
}

func checkNonNil(t *testing.T, what string, lists ...[]string) {
	t.Helper()
	for _, l := range lists {
		if l == nil {
			t.Errorf("%s: a list is nil, want empty", what)
		}
	}
}

func assertClient(t *testing.T, got, want clients.Client) {
	t.Helper()
	checkUTC(t, "client "+got.ID, got.CreatedAt, got.UpdatedAt)
	checkNonNil(t, "client "+got.ID, got.GrantTypes, got.RedirectURIs, got.Scopes, got.TLS.CertificateThumbprints, got.Resources, got.PostLogoutRedirectURIs)
	if g, w := normClient(got), normClient(want); !reflect.DeepEqual(g, w) {
		t.Errorf("client %q:\n got %+v\nwant %+v", want.ID, g, w)
	}
}

func assertSecrets(t *testing.T, got []clients.Secret, want ...clients.Secret) {
	t.Helper()
	if got == nil {
		t.Error("secrets: nil slice, want empty")
	}
	for _, s := range got {
		checkUTC(t, "secret", s.CreatedAt, s.ExpiresAt)
	}
	w := make([]clients.Secret, 0, len(want))
	for _, s := range want {
		w = append(w, normSecret(s))
	}
	g := make([]clients.Secret, 0, len(got))
	for _, s := range got {
		g = append(g, normSecret(s))
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("secrets:\n got %+v\nwant %+v", g, w)
	}
}

func assertKey(t *testing.T, got, want clients.APIKey) {
	t.Helper()
	checkUTC(t, "api key "+got.KeyID, got.ExpiresAt, got.CreatedAt, got.LastUsedAt, got.RevokedAt)
	checkNonNil(t, "api key "+got.KeyID, got.Scopes)
	if g, w := normKey(got), normKey(want); !reflect.DeepEqual(g, w) {
		t.Errorf("api key %q:\n got %+v\nwant %+v", want.KeyID, g, w)
	}
}

func assertErrorIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want errors.Is(err, %q)", err, target)
	}
}

// Shorthands that fail the test on error.

func (e *env) createClient(c clients.Client, secret *clients.Secret, keys ...clients.APIKey) {
	e.t.Helper()
	if err := e.s.CreateClient(e.ctx, c, secret, keys...); err != nil {
		e.t.Fatalf("CreateClient(%q): %v", c.ID, err)
	}
}

func (e *env) getClient(id string) clients.Client {
	e.t.Helper()
	c, err := e.s.GetClient(e.ctx, id)
	if err != nil {
		e.t.Fatalf("GetClient(%q): %v", id, err)
	}
	return c
}

func (e *env) getKey(id string) clients.APIKey {
	e.t.Helper()
	k, err := e.s.GetAPIKey(e.ctx, id)
	if err != nil {
		e.t.Fatalf("GetAPIKey(%q): %v", id, err)
	}
	return k
}

func (e *env) secrets(clientID string) []clients.Secret {
	e.t.Helper()
	s, err := e.s.ListSecrets(e.ctx, clientID)
	if err != nil {
		e.t.Fatalf("ListSecrets(%q): %v", clientID, err)
	}
	return s
}

func (e *env) keyIDs(clientID string) []string {
	e.t.Helper()
	ks, err := e.s.ListAPIKeys(e.ctx, clientID)
	if err != nil {
		e.t.Fatalf("ListAPIKeys(%q): %v", clientID, err)
	}
	ids := []string{}
	for _, k := range ks {
		ids = append(ids, k.KeyID)
	}
	return ids
}

func (e *env) scopeNames() []string {
	e.t.Helper()
	ss, err := e.s.ListScopes(e.ctx)
	if err != nil {
		e.t.Fatalf("ListScopes: %v", err)
	}
	names := []string{}
	for _, s := range ss {
		names = append(names, s.Name)
	}
	return names
}

func (e *env) assertNoClient(id string) {
	e.t.Helper()
	_, err := e.s.GetClient(e.ctx, id)
	if !errors.Is(err, clients.ErrNotFound) {
		e.t.Errorf("GetClient(%q) = %v, want ErrNotFound", id, err)
	}
	if s := e.secrets(id); len(s) != 0 {
		e.t.Errorf("client %q left secrets %+v", id, s)
	}
	if ks := e.keyIDs(id); len(ks) != 0 {
		e.t.Errorf("client %q left api keys %v", id, ks)
	}
}

// in returns the env for a subtest, so that its helpers fail the subtest.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}
