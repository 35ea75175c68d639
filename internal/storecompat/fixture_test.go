package storecompat

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/keys"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"github.com/gatehouse-dev/gatehouse/services/users"
)

// stores are the five stores of one database.
type stores struct {
	clients clients.Store
	keys    interface {
		keys.Store
		keys.CAStore
	}
	revocation revocation.Store
	users      users.Store
	grants     grantstore.Store
}

// t0 has nanoseconds, which every store drops: the snapshot shows what was
// kept.
var t0 = time.Date(2026, 11, 2, 9, 30, 15, 123456789, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// populate writes the same records into s whatever the release: every
// column of every table gets a value, zero and non-zero optional times
// alike, so a change in how any of them is read shows in the snapshot.
func populate(t testing.TB, s stores) {
	t.Helper()
	ctx := context.Background()

	// Client registry.
	must(t, "scopes", s.clients.EnsureScopes(ctx, []clients.Scope{
		{Name: "orders:read", Description: "read orders", CreatedAt: at(0)},
		{Name: "orders:write", Description: "write orders", CreatedAt: at(time.Second)},
		{Name: "gatehouse:admin", Description: "administer", System: true, CreatedAt: at(2 * time.Second)},
	}))
	partner := clients.Client{
		ID: "partner-1", Name: "Partner One", Type: clients.ThirdParty, AuthMethod: "tls_client_auth",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders:write", "orders:read"},
		TLS: clients.TLSClientAuth{
			SubjectDN: "CN=partner-1,O=Partner", SANDNS: "partner.example", SANURI: "spiffe://partner/one",
			SANIP: "192.0.2.7", SANEmail: "ops@partner.example",
			CertificateThumbprints: []string{"thumb-a", "thumb-b"}, BoundAccessTokens: true,
		},
		AccessTokenLifetime: 7 * time.Minute, RateLimitTier: "premium", RequireConsent: true,
		Resources: []string{"https://api.example/orders"},
		CreatedAt: at(time.Minute), UpdatedAt: at(2 * time.Minute),
	}
	must(t, "create partner", s.clients.CreateClient(ctx, partner, nil))
	spa := clients.Client{
		ID: "spa", Name: "Web app", Type: clients.FirstParty, Public: true, AuthMethod: "none",
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		Scopes:       []string{"orders:read"}, AccessTokenLifetime: 10 * time.Minute,
		RefreshTokenDelivery: clients.RefreshTokenDeliveryCookie,
		CreatedAt:            at(time.Minute), UpdatedAt: at(time.Minute),
	}
	must(t, "create spa", s.clients.CreateClient(ctx, spa, nil))
	svc := clients.Client{
		ID: "svc", Name: "Batch", Type: clients.ThirdParty, AuthMethod: "client_secret_basic",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders:read"},
		AccessTokenLifetime: 5 * time.Minute, Disabled: true,
		CreatedAt: at(3 * time.Minute), UpdatedAt: at(3 * time.Minute),
	}
	must(t, "create svc", s.clients.CreateClient(ctx, svc,
		&clients.Secret{Hash: hash("secret-1"), CreatedAt: at(3 * time.Minute)},
		clients.APIKey{KeyID: "key-1", SecretHash: hash("api-1"), Scopes: []string{"orders:read"},
			Description: "first", CreatedAt: at(3 * time.Minute)}))
	must(t, "rotate secret", s.clients.RotateSecret(ctx,
		clients.Secret{ClientID: "svc", Hash: hash("secret-2"), CreatedAt: at(4 * time.Minute)}, at(time.Hour)))
	must(t, "create key-2", s.clients.CreateAPIKey(ctx, clients.APIKey{
		KeyID: "key-2", ClientID: "svc", SecretHash: hash("api-2"), Scopes: []string{"orders:read", "orders:write"},
		ExpiresAt: at(48 * time.Hour), CreatedAt: at(5 * time.Minute)}))
	_, err := s.clients.UpdateAPIKey(ctx, "key-1", func(k *clients.APIKey) error {
		k.Revoked, k.RevokedAt = true, at(6*time.Minute)
		return nil
	})
	must(t, "revoke key-1", err)
	must(t, "rotate key-2", s.clients.RotateAPIKey(ctx, "key-2", clients.APIKey{
		KeyID: "key-3", ClientID: "svc", SecretHash: hash("api-3"), Scopes: []string{"orders:read"},
		CreatedAt: at(7 * time.Minute)}, at(8*time.Minute)))
	must(t, "touch key-3", s.clients.TouchAPIKey(ctx, "key-3", at(9*time.Minute), time.Minute))

	// Signing keys and the platform CA.
	_, err = s.keys.Update(ctx, func([]keys.Key) (keys.Changes, error) {
		return keys.Changes{Insert: []keys.Key{
			{KID: "kid-old", Alg: "ES256", State: keys.StateActive, PublicJWK: []byte(`{"kid":"kid-old"}`),
				PrivateKey: []byte("sealed-old"), CreatedAt: at(0), ActivateAt: at(0)},
			{KID: "kid-gone", Alg: "RS256", State: keys.StateRemoved, PublicJWK: []byte(`{"kid":"kid-gone"}`),
				CreatedAt: at(-time.Hour), RetiredAt: at(-30 * time.Minute), RemoveAt: at(-time.Minute)},
		}}, nil
	})
	must(t, "insert keys", err)
	_, err = s.keys.Update(ctx, func(ks []keys.Key) (keys.Changes, error) {
		old := ks[0]
		if old.KID != "kid-old" {
			return keys.Changes{}, fmt.Errorf("newest key is %q", old.KID)
		}
		old.PrivateKey = []byte("sealed-old")
		old.State, old.RetiredAt, old.RemoveAt = keys.StateRetired, at(time.Hour), at(25*time.Hour)
		return keys.Changes{
			Update: []keys.Key{old},
			Insert: []keys.Key{
				{KID: "kid-new", Alg: "EdDSA", State: keys.StateActive, PublicJWK: []byte(`{"kid":"kid-new"}`),
					PrivateKey: []byte("sealed-new"), CreatedAt: at(30 * time.Minute), ActivateAt: at(time.Hour)},
				{KID: "kid-next", Alg: "PS256", State: keys.StatePending, PublicJWK: []byte(`{"kid":"kid-next"}`),
					PrivateKey: []byte("sealed-next"), CreatedAt: at(2 * time.Hour), ActivateAt: at(3 * time.Hour)},
			},
		}, nil
	})
	must(t, "rotate keys", err)
	_, err = s.keys.CreateCA(ctx, keys.StoredCA{Serial: "0a1b", Certificate: []byte("ca-der"),
		PrivateKey: []byte("sealed-ca"), CreatedAt: at(0)})
	must(t, "create CA", err)
	for i, c := range []keys.IssuedCert{
		{Serial: "1f", ClientID: "partner-1", Thumbprint: "thumb-a", NotBefore: at(0), NotAfter: at(90 * 24 * time.Hour), DER: []byte("der-a")},
		{Serial: "2e", ClientID: "partner-1", Thumbprint: "thumb-b", NotBefore: at(time.Hour), NotAfter: at(91 * 24 * time.Hour), DER: []byte("der-b")},
	} {
		must(t, fmt.Sprint("certificate ", i), s.keys.InsertCertificate(ctx, c))
	}

	// Revocation list.
	for _, e := range []revocation.Entry{
		{Kind: revocationv1.Kind_KIND_ACCESS_TOKEN, ID: "jti-1", Reason: "logout", RevokedAt: at(time.Minute), ExpiresAt: at(16 * time.Minute)},
		{Kind: revocationv1.Kind_KIND_API_KEY, ID: "key-1", Reason: "admin", RevokedAt: at(6 * time.Minute)},
		{Kind: revocationv1.Kind_KIND_CLIENT, ID: "svc", Reason: "compromise", RevokedAt: at(7 * time.Minute), ExpiresAt: at(time.Hour)},
		{Kind: revocationv1.Kind_KIND_CLIENT, ID: "svc", Reason: "compromise again", RevokedAt: at(8 * time.Minute), ExpiresAt: at(2 * time.Hour)},
		{Kind: revocationv1.Kind_KIND_REFRESH_FAMILY, ID: "fam-2", Reason: "reuse", RevokedAt: at(9 * time.Minute)},
	} {
		_, _, err := s.revocation.Revoke(ctx, e)
		must(t, "revoke "+e.ID, err)
	}
	must(t, "mark published", s.revocation.MarkPublished(ctx, []int64{1, 2}))

	// Users.
	for _, u := range []users.User{
		{ID: "u_aaaaaaaaaaaaaaaaaaaaaaaaaa", Email: "alice@example.com", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA",
			CreatedAt: at(0), UpdatedAt: at(0)},
		{ID: "u_bbbbbbbbbbbbbbbbbbbbbbbbbb", Email: "bob@example.com", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$Ym9i",
			CreatedAt: at(time.Minute), UpdatedAt: at(time.Minute)},
	} {
		must(t, "create user "+u.Email, s.users.Create(ctx, u))
	}
	_, err = s.users.Update(ctx, "u_bbbbbbbbbbbbbbbbbbbbbbbbbb", func(u *users.User) error {
		u.Disabled, u.UpdatedAt = true, at(5*time.Minute)
		return nil
	})
	must(t, "disable bob", err)

	// Grants.
	for _, c := range []grantstore.Code{
		{Hash: hash("code-1"), ClientID: "spa", RedirectURI: "https://app.example/cb", Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
			UserID: "u_aaaaaaaaaaaaaaaaaaaaaaaaaa", Scopes: []string{"orders:read"}, Resources: []string{"https://api.example/orders"},
			FamilyID: "fam-1", AuthTime: at(0), CreatedAt: at(time.Second), ExpiresAt: at(time.Minute)},
		{Hash: hash("code-2"), ClientID: "spa", RedirectURI: "http://127.0.0.1/cb", Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
			UserID: "u_bbbbbbbbbbbbbbbbbbbbbbbbbb", Scopes: []string{"orders:read", "orders:write"},
			FamilyID: "fam-3", AuthTime: at(0), CreatedAt: at(time.Second), ExpiresAt: at(time.Hour)},
	} {
		must(t, "create code", s.grants.CreateCode(ctx, c))
	}
	_, err = s.grants.RedeemCode(ctx, hash("code-1"), at(10*time.Second))
	must(t, "redeem code-1", err)
	for _, f := range []struct {
		f  grantstore.Family
		rt string
	}{
		{grantstore.Family{ID: "fam-1", ClientID: "spa", UserID: "u_aaaaaaaaaaaaaaaaaaaaaaaaaa", Scopes: []string{"orders:read"},
			Resources: []string{"https://api.example/orders"}, AuthTime: at(0), CreatedAt: at(10 * time.Second), ExpiresAt: at(30 * 24 * time.Hour)}, "rt-1"},
		{grantstore.Family{ID: "fam-2", ClientID: "spa", UserID: "u_bbbbbbbbbbbbbbbbbbbbbbbbbb", Scopes: []string{"orders:read"},
			AuthTime: at(0), CreatedAt: at(20 * time.Second), ExpiresAt: at(30 * 24 * time.Hour)}, "rt-2"},
		{grantstore.Family{ID: "fam-4", ClientID: "svc", UserID: "u_aaaaaaaaaaaaaaaaaaaaaaaaaa", Scopes: []string{},
			AuthTime: at(0), CreatedAt: at(30 * time.Second), ExpiresAt: at(time.Hour)}, ""},
	} {
		var rt *grantstore.Refresh
		if f.rt != "" {
			rt = &grantstore.Refresh{Hash: hash(f.rt), FamilyID: f.f.ID, Scopes: f.f.Scopes,
				CreatedAt: f.f.CreatedAt, IdleExpiresAt: f.f.CreatedAt.Add(24 * time.Hour)}
		}
		must(t, "create family "+f.f.ID, s.grants.CreateFamily(ctx, f.f, rt))
	}
	_, _, err = s.grants.RotateRefresh(ctx, hash("rt-1"), grantstore.Presenter{ClientID: "spa"}, grantstore.Refresh{Hash: hash("rt-1b"), FamilyID: "fam-1",
		Scopes: []string{"orders:read"}, CreatedAt: at(time.Hour), IdleExpiresAt: at(25 * time.Hour)}, at(time.Hour))
	must(t, "rotate rt-1", err)
	_, err = s.grants.RevokeFamily(ctx, "fam-2", grantstore.ReasonRefreshReuse, at(9*time.Minute))
	must(t, "revoke fam-2", err)
	for _, se := range []grantstore.Session{
		{Hash: hash("sess-1"), UserID: "u_aaaaaaaaaaaaaaaaaaaaaaaaaa", AuthTime: at(0), CreatedAt: at(0), ExpiresAt: at(12 * time.Hour)},
		{Hash: hash("sess-2"), UserID: "u_bbbbbbbbbbbbbbbbbbbbbbbbbb", AuthTime: at(0), CreatedAt: at(0), ExpiresAt: at(12 * time.Hour)},
	} {
		must(t, "create session", s.grants.CreateSession(ctx, se))
	}
	must(t, "revoke sess-2", s.grants.RevokeSession(ctx, hash("sess-2"), at(time.Hour)))
}

// snapshot reads back what populate wrote, through every read the stores
// offer, into a value that marshals to the same JSON whatever the backend
// and the release: the fixture's snapshot.json.
func snapshot(t testing.TB, s stores) map[string]any {
	t.Helper()
	ctx := context.Background()
	out := map[string]any{}
	put := func(key string, v any, err error) {
		t.Helper()
		if err != nil {
			out[key] = map[string]string{"error": errorClass(err)}
			return
		}
		out[key] = v
	}

	v1, err := s.clients.ListScopes(ctx)
	put("clients.ListScopes", v1, err)
	for _, id := range []string{"partner-1", "spa", "svc", "nobody"} {
		c, err := s.clients.GetClient(ctx, id)
		put("clients.GetClient/"+id, c, err)
		sec, err := s.clients.ListSecrets(ctx, id)
		put("clients.ListSecrets/"+id, sec, err)
		ks, err := s.clients.ListAPIKeys(ctx, id)
		put("clients.ListAPIKeys/"+id, ks, err)
	}
	var pages [][]clients.Client
	var after *clients.ClientCursor
	for range 5 {
		page, err := s.clients.ListClients(ctx, after, 2)
		must(t, "list clients", err)
		pages = append(pages, page)
		if len(page) < 2 {
			break
		}
		last := page[len(page)-1]
		after = &clients.ClientCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	out["clients.ListClients"] = pages
	for _, id := range []string{"key-1", "key-2", "key-3", "key-none"} {
		k, err := s.clients.GetAPIKey(ctx, id)
		put("clients.GetAPIKey/"+id, k, err)
	}

	ks, err := s.keys.List(ctx)
	put("keys.List", ks, err)
	ca, err := s.keys.GetCA(ctx)
	put("keys.GetCA", ca, err)
	certs, err := s.keys.ListCertificates(ctx, "partner-1")
	put("keys.ListCertificates/partner-1", certs, err)
	certs, err = s.keys.ListCertificates(ctx, "nobody")
	put("keys.ListCertificates/nobody", certs, err)

	logID, err := s.revocation.LogID(ctx)
	put("revocation.LogID", logID, err)
	head, err := s.revocation.Head(ctx)
	put("revocation.Head", head, err)
	es, h, err := s.revocation.List(ctx, 0, 100)
	put("revocation.List", map[string]any{"entries": es, "head": h}, err)
	es, h, err = s.revocation.List(ctx, 2, 1)
	put("revocation.List/since2/limit1", map[string]any{"entries": es, "head": h}, err)
	es, err = s.revocation.Unpublished(ctx, 100)
	put("revocation.Unpublished", es, err)
	e, err := s.revocation.Get(ctx, revocationv1.Kind_KIND_CLIENT, "svc")
	put("revocation.Get/client/svc", e, err)
	e, err = s.revocation.Get(ctx, revocationv1.Kind_KIND_CLIENT, "nobody")
	put("revocation.Get/client/nobody", e, err)

	for _, id := range []string{"u_aaaaaaaaaaaaaaaaaaaaaaaaaa", "u_bbbbbbbbbbbbbbbbbbbbbbbbbb", "u_cccccccccccccccccccccccccc"} {
		u, err := s.users.Get(ctx, id)
		put("users.Get/"+id, u, err)
	}
	u, err := s.users.GetByEmail(ctx, "bob@example.com")
	put("users.GetByEmail/bob", u, err)
	us, err := s.users.List(ctx, nil, 10)
	put("users.List", us, err)
	us, err = s.users.List(ctx, &users.Cursor{CreatedAt: at(0), ID: "u_aaaaaaaaaaaaaaaaaaaaaaaaaa"}, 10)
	put("users.List/after-alice", us, err)

	for _, id := range []string{"fam-1", "fam-2", "fam-4", "fam-none"} {
		f, err := s.grants.GetFamily(ctx, id)
		put("grants.GetFamily/"+id, f, err)
	}
	for _, rt := range []string{"rt-1", "rt-1b", "rt-2", "rt-none"} {
		r, f, err := s.grants.GetRefresh(ctx, hash(rt))
		put("grants.GetRefresh/"+rt, map[string]any{"refresh": r, "family": f}, err)
	}
	for _, se := range []string{"sess-1", "sess-2", "sess-none"} {
		v, err := s.grants.GetSession(ctx, hash(se))
		put("grants.GetSession/"+se, v, err)
	}
	// Codes can only be read by redeeming them: the snapshot is taken once
	// per database, after the dump.
	for _, c := range []string{"code-1", "code-2", "code-none"} {
		v, err := s.grants.RedeemCode(ctx, hash(c), at(20*time.Second))
		put("grants.RedeemCode/"+c, v, err)
	}
	return out
}

// errorClass names the sentinel an error wraps: the snapshot records which
// error a read returned, not its text.
func errorClass(err error) string {
	for _, s := range []struct {
		name string
		err  error
	}{
		{"clients.ErrNotFound", clients.ErrNotFound},
		{"keys.ErrNotFound", keys.ErrNotFound},
		{"revocation.ErrNotFound", revocation.ErrNotFound},
		{"users.ErrNotFound", users.ErrNotFound},
		{"grantstore.ErrNotFound", grantstore.ErrNotFound},
		{"grantstore.ErrCodeRedeemed", grantstore.ErrCodeRedeemed},
		{"grantstore.ErrExpired", grantstore.ErrExpired},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return "unexpected: " + err.Error()
}

// exercise writes through every store on a database an older release
// wrote, and checks each write reads back: the new code works on old rows,
// not only reads them.
func exercise(t testing.TB, s stores) {
	t.Helper()
	ctx := context.Background()
	c, err := s.clients.UpdateClient(ctx, "partner-1", func(c *clients.Client) error {
		c.Scopes = []string{"orders:read"}
		c.TLS.CertificateThumbprints = append(c.TLS.CertificateThumbprints, "thumb-c")
		c.UpdatedAt = at(time.Hour)
		return nil
	})
	must(t, "update client", err)
	if len(c.Scopes) != 1 || len(c.TLS.CertificateThumbprints) != 3 || !c.UpdatedAt.Equal(at(time.Hour).Truncate(time.Microsecond)) {
		t.Errorf("updated client = %+v", c)
	}
	must(t, "rotate secret", s.clients.RotateSecret(ctx,
		clients.Secret{ClientID: "svc", Hash: hash("secret-3"), CreatedAt: at(2 * time.Hour)}, at(3*time.Hour)))
	secrets, err := s.clients.ListSecrets(ctx, "svc")
	must(t, "list secrets", err)
	if len(secrets) != 2 || !secrets[1].ExpiresAt.Equal(at(3*time.Hour).Truncate(time.Microsecond)) {
		t.Errorf("secrets after rotation at 2h: %+v", secrets)
	}
	must(t, "delete scope in use", ignore(s.clients.DeleteScope(ctx, "orders:read"), clients.ErrInUse))
	must(t, "delete client", s.clients.DeleteClient(ctx, "svc"))
	if _, err := s.clients.GetAPIKey(ctx, "key-3"); !errors.Is(err, clients.ErrNotFound) {
		t.Errorf("key of a deleted client: %v", err)
	}

	version, err := s.keys.Update(ctx, func(ks []keys.Key) (keys.Changes, error) {
		for _, k := range ks {
			if k.KID == "kid-next" {
				k.State, k.ActivateAt = keys.StateRemoved, time.Time{}
				k.PrivateKey, k.RemoveAt = nil, at(4*time.Hour)
				return keys.Changes{Update: []keys.Key{k}}, nil
			}
		}
		return keys.Changes{}, errors.New("no kid-next")
	})
	must(t, "update key", err)
	if version != 3 {
		t.Errorf("key version after the third update = %d, want 3", version)
	}

	next, created, err := s.revocation.Revoke(ctx, revocation.Entry{Kind: revocationv1.Kind_KIND_SUBJECT,
		ID: "u_aaaaaaaaaaaaaaaaaaaaaaaaaa", Reason: "admin", RevokedAt: at(2 * time.Hour)})
	must(t, "revoke subject", err)
	if !created || next.Seq != 6 {
		t.Errorf("revocation after five = seq %d created %v, want seq 6", next.Seq, created)
	}
	n, err := s.revocation.DeleteExpired(ctx, at(17*time.Minute))
	must(t, "delete expired revocations", err)
	if n != 1 {
		t.Errorf("expired revocations deleted = %d, want 1 (jti-1)", n)
	}

	u, err := s.users.Update(ctx, "u_aaaaaaaaaaaaaaaaaaaaaaaaaa", func(u *users.User) error {
		u.Email, u.UpdatedAt = "alice@new.example", at(time.Hour)
		return nil
	})
	must(t, "update user", err)
	if u.Email != "alice@new.example" {
		t.Errorf("updated user = %+v", u)
	}

	_, _, err = s.grants.RotateRefresh(ctx, hash("rt-1b"), grantstore.Presenter{ClientID: "spa"}, grantstore.Refresh{Hash: hash("rt-1c"), FamilyID: "fam-1",
		Scopes: []string{"orders:read"}, CreatedAt: at(2 * time.Hour), IdleExpiresAt: at(26 * time.Hour)}, at(2*time.Hour))
	must(t, "rotate rt-1b", err)
	fs, err := s.grants.RevokeUserFamilies(ctx, "u_aaaaaaaaaaaaaaaaaaaaaaaaaa", "logout", at(time.Hour), at(3*time.Hour))
	must(t, "revoke alice's families", err)
	if len(fs) != 2 || fs[0].ID != "fam-1" || fs[1].ID != "fam-4" {
		t.Errorf("revoked families = %+v, want fam-1 and fam-4", fs)
	}
	revoked, err := s.grants.RevokeUserSessions(ctx, "u_aaaaaaaaaaaaaaaaaaaaaaaaaa", at(time.Hour), at(3*time.Hour))
	must(t, "revoke alice's sessions", err)
	if revoked != 1 {
		t.Errorf("sessions revoked = %d, want 1", revoked)
	}
	deleted, err := s.grants.DeleteExpired(ctx, at(48*time.Hour), 0)
	must(t, "delete expired grants", err)
	// code-1, code-2, fam-4 (no token), both sessions.
	if deleted != 5 {
		t.Errorf("grants deleted = %d, want 5", deleted)
	}
}

func ignore(err, allowed error) error {
	if errors.Is(err, allowed) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("no error, want %w", allowed)
	}
	return err
}
