package clients

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// AdminClientID is the client that owns the bootstrap admin API key.
const AdminClientID = "gatehouse-admin"

// AdminScope is the scope of the admin APIs.
const AdminScope = "gatehouse:admin"

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
	if err := r.SeedScopes(ctx, []string{AdminScope}); err != nil {
		return false, err
	}
	now := r.clock()
	c := Client{
		ID:   AdminClientID,
		Name: "Gatehouse administrator",
		Type: FirstParty,
		// No secret is ever issued to this client: it authenticates only
		// with the API key written to the credentials file.
		AuthMethod:          AuthSecretBasic,
		GrantTypes:          []string{GrantClientCredentials},
		Scopes:              []string{AdminScope},
		AccessTokenLifetime: 15 * time.Minute,
		RateLimitTier:       "internal",
		CreatedAt:           now,
		UpdatedAt:           now,
	}
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
