package clients

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
)

// storableText refuses a text field no Store can hold.
func storableText(field, s string) error {
	if !database.Storable(s) {
		return fieldErr(field, "must be valid UTF-8 without NUL characters")
	}
	return nil
}

// guardedStore is the Store as the Registry uses it: a lookup by an id no
// Store can hold (database.Storable) finds nothing, and the descriptions of
// scopes and API keys are checked like the client's fields (validate),
// before the Store sees them. Client ids, key ids and scope names reach
// the Registry from the token endpoint (client_id, form-decoded, any
// bytes) and from REST paths.
type guardedStore struct{ Store }

func (g guardedStore) CreateScope(ctx context.Context, s Scope) error {
	if err := storableText("scope.description", s.Description); err != nil {
		return err
	}
	return g.Store.CreateScope(ctx, s)
}

func (g guardedStore) DeleteScope(ctx context.Context, name string) error {
	if !database.Storable(name) {
		return ErrNotFound
	}
	return g.Store.DeleteScope(ctx, name)
}

func (g guardedStore) GetClient(ctx context.Context, id string) (Client, error) {
	if !database.Storable(id) {
		return Client{}, ErrNotFound
	}
	return g.Store.GetClient(ctx, id)
}

func (g guardedStore) ListClients(ctx context.Context, after *ClientCursor, limit int) ([]Client, error) {
	if after != nil && !database.Storable(after.ID) {
		return nil, fieldErr("page_token", "invalid")
	}
	return g.Store.ListClients(ctx, after, limit)
}

func (g guardedStore) UpdateClient(ctx context.Context, id string, update func(*Client) error) (Client, error) {
	if !database.Storable(id) {
		return Client{}, ErrNotFound
	}
	return g.Store.UpdateClient(ctx, id, update)
}

func (g guardedStore) DeleteClient(ctx context.Context, id string) error {
	if !database.Storable(id) {
		return ErrNotFound
	}
	return g.Store.DeleteClient(ctx, id)
}

func (g guardedStore) ListSecrets(ctx context.Context, clientID string) ([]Secret, error) {
	if !database.Storable(clientID) {
		return []Secret{}, nil
	}
	return g.Store.ListSecrets(ctx, clientID)
}

func (g guardedStore) CreateAPIKey(ctx context.Context, k APIKey) error {
	if err := storableText("description", k.Description); err != nil {
		return err
	}
	return g.Store.CreateAPIKey(ctx, k)
}

func (g guardedStore) GetAPIKey(ctx context.Context, keyID string) (APIKey, error) {
	if !database.Storable(keyID) {
		return APIKey{}, ErrNotFound
	}
	return g.Store.GetAPIKey(ctx, keyID)
}

func (g guardedStore) ListAPIKeys(ctx context.Context, clientID string) ([]APIKey, error) {
	if !database.Storable(clientID) {
		return []APIKey{}, nil
	}
	return g.Store.ListAPIKeys(ctx, clientID)
}

func (g guardedStore) UpdateAPIKey(ctx context.Context, keyID string, update func(*APIKey) error) (APIKey, error) {
	if !database.Storable(keyID) {
		return APIKey{}, ErrNotFound
	}
	return g.Store.UpdateAPIKey(ctx, keyID, update)
}

func (g guardedStore) RotateAPIKey(ctx context.Context, oldKeyID string, next APIKey, oldExpiresAt time.Time) error {
	if !database.Storable(oldKeyID) {
		return ErrNotFound
	}
	return g.Store.RotateAPIKey(ctx, oldKeyID, next, oldExpiresAt)
}
