package clients

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
)

// AdminClientID is the client that owns the bootstrap admin API key.
const AdminClientID = "gatehouse-admin"

// AdminScope is the scope of the admin APIs.
const AdminScope = "gatehouse:admin"

// The narrower admin scopes: each admin RPC's rule takes gatehouse:admin
// or one of these, so a support engineer can read without writing.
const (
	// AdminReadScope reads clients, scopes, API keys, users, signing keys,
	// certificates and the revocation list.
	AdminReadScope = "gatehouse:admin.read"
	// AdminClientsScope manages clients, scopes and API keys.
	AdminClientsScope = "gatehouse:admin.clients"
	// AdminUsersScope manages users.
	AdminUsersScope = "gatehouse:admin.users"
	// AdminKeysScope rotates signing keys and issues client certificates.
	AdminKeysScope = "gatehouse:admin.keys"
	// AdminRevokeScope adds to the revocation list.
	AdminRevokeScope = "gatehouse:admin.revoke"
)

// AdminScopes are every scope an admin key may hold.
var AdminScopes = []string{AdminScope, AdminReadScope, AdminClientsScope, AdminUsersScope, AdminKeysScope, AdminRevokeScope}

// InternalScope is what every service of a split deployment holds to
// validate requests: the revocation list, API-key verification and client
// lookups, with the full client.
const InternalScope = "gatehouse:internal"

// ValidatorScope is the narrow scope of a resource service outside
// Gatehouse that validates its own callers with pkg/authn: it reads the
// revocation list, verifies the API keys presented to it and reads
// clients' validation settings (GetClient's validator view), and nothing
// else: no client secrets, no signing keys, no revoking, no admin.
const ValidatorScope = "gatehouse:validator"

// Bootstrap creates the admin client and its first API key on an empty
// registry. save receives the raw key and must persist it before Bootstrap
// commits, so a failure to save leaves nothing behind and the next start
// tries again. It returns false, and does not call save, when the admin
// client already exists.
func (r *Registry) Bootstrap(ctx context.Context, save func(rawKey string) error) (bool, error) {
	if _, err := r.store.GetClient(ctx, AdminClientID); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("clients: bootstrap: %w", err)
	}
	if err := r.SeedScopes(ctx, AdminScopes); err != nil {
		return false, err
	}
	now := r.clock()
	c := adminClient(now)
	k := APIKey{ClientID: c.ID, Scopes: []string{AdminScope}, Description: "bootstrap admin key", CreatedAt: now}
	raw, err := r.fillKey(&k)
	if err != nil {
		return false, err
	}
	if err := save(raw); err != nil {
		return false, fmt.Errorf("clients: bootstrap: save admin credential: %w", err)
	}
	if err := r.store.CreateClient(ctx, c, nil, k); err != nil {
		if errors.Is(err, ErrAlreadyExists) {
			// Another replica bootstrapped first; its key is the one.
			return false, nil
		}
		return false, fmt.Errorf("clients: bootstrap: %w", err)
	}
	return true, nil
}

// adminClient is the client that owns the admin API keys.
func adminClient(now time.Time) Client {
	return Client{
		ID:   AdminClientID,
		Name: "Gatehouse administrator",
		Type: FirstParty,
		// No secret is ever issued to this client: it authenticates only
		// with its API keys.
		AuthMethod:          AuthSecretBasic,
		GrantTypes:          []string{GrantClientCredentials},
		Scopes:              slices.Clone(AdminScopes),
		AccessTokenLifetime: 15 * time.Minute,
		RateLimitTier:       "internal",
		CreatedAt:           now,
		UpdatedAt:           now,
	}
}

// MintAdminKey is `gatehouse admin create-key`: a new API key of the admin
// client, with name as its description (shown wherever the key is listed),
// made directly in the store, without a running server. It creates the
// admin client first when the store has none. It is how a deployment gets
// its first admin key, and how an operator who lost every admin key gets
// one back; the key is listed and revoked like any other.
//
// scopes narrow the key (AdminScopes; empty means gatehouse:admin, every
// admin API).
func (r *Registry) MintAdminKey(ctx context.Context, name string, scopes ...string) (raw string, k APIKey, err error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return "", APIKey{}, errors.New("clients: admin key: a name of 1 to 200 characters is required (it says whose key it is)")
	}
	scopes = dedupe(scopes)
	if len(scopes) == 0 {
		scopes = []string{AdminScope}
	}
	for _, sc := range scopes {
		if !slices.Contains(AdminScopes, sc) {
			return "", APIKey{}, fmt.Errorf("clients: admin key: scope %q is not an admin scope (%s)", sc, strings.Join(AdminScopes, ", "))
		}
	}
	if err := r.SeedScopes(ctx, AdminScopes); err != nil {
		return "", APIKey{}, err
	}
	now := r.clock()
	k = APIKey{ClientID: AdminClientID, Scopes: scopes, Description: name, CreatedAt: now}
	if raw, err = r.fillKey(&k); err != nil {
		return "", APIKey{}, err
	}
	c, err := r.store.GetClient(ctx, AdminClientID)
	switch {
	case errors.Is(err, ErrNotFound):
		// A store no server has bootstrapped: the admin client is made
		// with this key as its first, and the server that starts on it
		// later writes no credentials file (the key is this one).
		if err := r.SeedScopes(ctx, []string{AdminScope}); err != nil {
			return "", APIKey{}, err
		}
		err = r.store.CreateClient(ctx, adminClient(now), nil, k)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrAlreadyExists) {
			return "", APIKey{}, fmt.Errorf("clients: admin key: %w", err)
		}
		// A server bootstrapped meanwhile: add the key to its client.
		fallthrough
	case err == nil:
		if c.Disabled {
			return "", APIKey{}, errors.New("clients: admin key: the admin client is disabled")
		}
		if !isSubset(scopes, c.Scopes) {
			// An admin client bootstrapped before the narrower scopes
			// existed: a key is bounded by its client's scopes.
			if _, err := r.store.UpdateClient(ctx, AdminClientID, func(c *Client) error {
				c.Scopes = dedupe(append(c.Scopes, AdminScopes...))
				c.UpdatedAt = now
				return nil
			}); err != nil {
				return "", APIKey{}, fmt.Errorf("clients: admin key: %w", err)
			}
		}
		if err := r.store.CreateAPIKey(ctx, k); err != nil {
			return "", APIKey{}, fmt.Errorf("clients: admin key: %w", err)
		}
	default:
		return "", APIKey{}, fmt.Errorf("clients: admin key: %w", err)
	}
	r.publish(ctx, AdminClientID, eventsv1.ClientChanged_CHANGE_API_KEY_CREATED, k.KeyID)
	return raw, k, nil
}

// isSubset reports whether every one of a is in b.
func isSubset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
