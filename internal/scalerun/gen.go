package scalerun

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/apikey"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
	"github.com/gatehouse-dev/gatehouse/services/users"
)

// Scope is what every generated client and key is allowed: the example
// inventory API's, so that the keys can call it.
const Scope = "inventory:read"

// gen makes the i-th row of each kind. Identifiers and client secrets are
// derived from a per-run random seed with HMAC-SHA256, so that every table
// (clients, their secrets, their scopes) can be streamed on its own
// without holding a million identifiers, and a sample of clients can be
// signed in with afterwards; they are as unpredictable as the registry's
// crypto/rand ones to anyone without the seed.
type gen struct {
	seed []byte
	// at is the creation time of every row, as the registry's clock
	// gives it: UTC, to the microsecond.
	at time.Time
	// passwordHash is one real argon2id hash shared by every user:
	// hashing 100 000 passwords at the login cost would take the whole
	// run, and nothing measured signs users in.
	passwordHash string
}

func newGen(now time.Time) (*gen, error) {
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("scalerun: seed: %w", err)
	}
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("scalerun: password: %w", err)
	}
	h, err := users.Hash(base64.RawURLEncoding.EncodeToString(pw))
	if err != nil {
		return nil, fmt.Errorf("scalerun: hash the users' password: %w", err)
	}
	return &gen{seed: seed, at: now.UTC().Truncate(time.Microsecond), passwordHash: h}, nil
}

// prf is HMAC-SHA256(seed, label || i).
func (g *gen) prf(label string, i int) []byte {
	m := hmac.New(sha256.New, g.seed)
	m.Write([]byte(label))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i)) //nolint:gosec // i is a row index, never negative
	m.Write(b[:])
	return m.Sum(nil)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// id is the registry's identifier format: a prefix, "_" and the lower-case
// base32 of 15 bytes.
func (g *gen) id(prefix, label string, i int) string {
	return prefix + "_" + lower(b32.EncodeToString(g.prf(label, i)[:15]))
}

// ClientID is the i-th client's client_id.
func (g *gen) ClientID(i int) string { return g.id("c", "client", i) }

// ClientSecret is the i-th client's secret: 256 bits, base64url, as the
// registry issues them.
func (g *gen) ClientSecret(i int) string {
	return base64.RawURLEncoding.EncodeToString(g.prf("secret", i))
}

// Client is the i-th client as the registry would create it for a
// confidential machine client of the example API: client_credentials,
// client_secret_basic, the defaults filled in.
func (g *gen) Client(i int) clients.Client {
	return clients.Client{
		ID:                     g.ClientID(i),
		Name:                   fmt.Sprintf("scale client %d", i),
		Type:                   clients.ThirdParty,
		GrantTypes:             []string{clients.GrantClientCredentials},
		RedirectURIs:           []string{},
		Scopes:                 []string{Scope},
		AuthMethod:             clients.AuthSecretBasic,
		AccessTokenLifetime:    10 * time.Minute,
		RateLimitTier:          "standard",
		Resources:              []string{},
		PostLogoutRedirectURIs: []string{},
		TLS:                    clients.TLSClientAuth{CertificateThumbprints: []string{}},
		CreatedAt:              g.at,
		UpdatedAt:              g.at,
	}
}

// Secret is the stored form of the i-th client's secret: SHA-256 of the
// secret as issued, which is what the registry compares.
func (g *gen) Secret(i int) clients.Secret {
	sum := sha256.Sum256([]byte(g.ClientSecret(i)))
	return clients.Secret{ClientID: g.ClientID(i), Hash: sum[:], CreatedAt: g.at}
}

// APIKey is a new key of the i-th client, made by the same code as the
// registry's (pkg/apikey: a 95-bit id, a 256-bit secret), and its raw form.
func (g *gen) APIKey(i int) (clients.APIKey, string, error) {
	k, err := apikey.New()
	if err != nil {
		return clients.APIKey{}, "", fmt.Errorf("scalerun: api key: %w", err)
	}
	sum := apikey.HashSecret(k.Secret)
	return clients.APIKey{
		KeyID: k.ID, ClientID: g.ClientID(i), SecretHash: sum[:],
		Scopes: []string{Scope}, CreatedAt: g.at,
	}, k.String(), nil
}

// User is the i-th user.
func (g *gen) User(i int) users.User {
	return users.User{
		ID:           "u_" + lower(b32.EncodeToString(g.prf("user", i)[:16])),
		Email:        fmt.Sprintf("scale-%d@example.com", i),
		PasswordHash: g.passwordHash,
		CreatedAt:    g.at,
		UpdatedAt:    g.at,
	}
}

// Revocation is the i-th entry of the list, at sequence number seq: nine in
// ten are access tokens revoked before they expire (their jti, expiring
// with the token), one in ten a refresh-token family. None is a cut-off
// (client or subject), which would revoke the clients the run signs in with.
func (g *gen) Revocation(i int, seq int64) revocation.Entry {
	e := revocation.Entry{
		Seq: seq, Kind: revocationv1.Kind_KIND_ACCESS_TOKEN,
		ID:        base64.RawURLEncoding.EncodeToString(g.prf("jti", i)[:16]),
		Reason:    "scale run",
		RevokedAt: g.at,
		// Past the end of any run, so that no validator sweeps them
		// while it is measured.
		ExpiresAt: g.at.Add(2 * time.Hour),
	}
	if i%10 == 9 {
		e.Kind = revocationv1.Kind_KIND_REFRESH_FAMILY
		e.ExpiresAt = g.at.Add(30 * 24 * time.Hour)
	}
	return e
}

func lower(s string) string {
	b := []byte(s)
	for j, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[j] = c + 'a' - 'A'
		}
	}
	return string(b)
}
