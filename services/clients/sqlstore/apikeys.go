package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

// apiKeyColumns is what scanAPIKey reads, followed by the key's sorted
// scopes (Store.selectAPIKey).
const apiKeyColumns = `
	k.key_id, k.client_id, k.secret_hash, k.description,
	k.expires_at, k.created_at, k.last_used_at, k.revoked, k.revoked_at, k.replaced_by`

func scanAPIKey(row database.Row) (clients.APIKey, error) {
	var k clients.APIKey
	err := row.Scan(&k.KeyID, &k.ClientID, &k.SecretHash, &k.Description,
		&k.ExpiresAt, &k.CreatedAt, &k.LastUsedAt, &k.Revoked, &k.RevokedAt, &k.ReplacedBy, &k.Scopes)
	return k, err
}

func insertAPIKey(ctx context.Context, q database.Querier, k clients.APIKey) error {
	_, err := q.Exec(ctx, `
		INSERT INTO api_keys (
			key_id, client_id, secret_hash, description,
			expires_at, created_at, last_used_at, revoked, revoked_at, replaced_by
		) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		k.KeyID, k.ClientID, notNilBytes(k.SecretHash), k.Description,
		database.NullTime(k.ExpiresAt), k.CreatedAt, database.NullTime(k.LastUsedAt), k.Revoked,
		database.NullTime(k.RevokedAt), k.ReplacedBy)
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("api key %q: %w", k.KeyID, clients.ErrAlreadyExists)
	}
	if database.IsForeignKeyViolation(err) {
		return fmt.Errorf("client %q: %w", k.ClientID, clients.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("api key %q: %w", k.KeyID, err)
	}
	if err := grantScopes(ctx, q, "api_key_scopes", "key_id", k.KeyID, k.Scopes); err != nil {
		return fmt.Errorf("api key %q: %w", k.KeyID, err)
	}
	return nil
}

// CreateAPIKey implements clients.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k clients.APIKey) error {
	err := s.db.Tx(ctx, func(tx database.Tx) error { return insertAPIKey(ctx, tx, k) })
	if err != nil {
		return fmt.Errorf("clients: create api key %q: %w", k.KeyID, err)
	}
	return nil
}

func (s *Store) getAPIKey(ctx context.Context, q database.Querier, keyID string) (clients.APIKey, error) {
	k, err := scanAPIKey(q.QueryRow(ctx, s.getAPIKeySQL, keyID))
	if errors.Is(err, database.ErrNoRows) {
		return clients.APIKey{}, clients.ErrNotFound
	}
	return k, err
}

// GetAPIKey implements clients.Store.
func (s *Store) GetAPIKey(ctx context.Context, keyID string) (clients.APIKey, error) {
	k, err := s.getAPIKey(ctx, s.db, keyID)
	if err != nil {
		return clients.APIKey{}, fmt.Errorf("clients: get api key %q: %w", keyID, err)
	}
	return k, nil
}

// ListAPIKeys implements clients.Store.
func (s *Store) ListAPIKeys(ctx context.Context, clientID string) ([]clients.APIKey, error) {
	rows, err := s.db.Query(ctx, s.selectAPIKey+`WHERE k.client_id = $1 ORDER BY k.created_at DESC, k.key_id DESC`, clientID)
	if err != nil {
		return nil, fmt.Errorf("clients: list api keys of %q: %w", clientID, err)
	}
	defer rows.Close()
	out := []clients.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("clients: list api keys of %q: %w", clientID, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clients: list api keys of %q: %w", clientID, err)
	}
	return out, nil
}

// UpdateAPIKey implements clients.Store. key_id and client_id cannot change.
func (s *Store) UpdateAPIKey(ctx context.Context, keyID string, update func(*clients.APIKey) error) (clients.APIKey, error) {
	return readModifyWrite(ctx, s, s.lockAPIKeySQL, keyID, fmt.Sprintf("api key %q", keyID), s.getAPIKey, update,
		func(tx database.Tx, old, k clients.APIKey) error {
			if k.KeyID != keyID || k.ClientID != old.ClientID {
				return errors.New("the update changed the key_id or client_id")
			}
			_, err := tx.Exec(ctx, `
				UPDATE api_keys SET
					secret_hash = $2, description = $3, expires_at = $4, created_at = $5,
					last_used_at = $6, revoked = $7, revoked_at = $8, replaced_by = $9
				WHERE key_id = $1`,
				keyID, notNilBytes(k.SecretHash), k.Description, database.NullTime(k.ExpiresAt), k.CreatedAt,
				database.NullTime(k.LastUsedAt), k.Revoked, database.NullTime(k.RevokedAt), k.ReplacedBy)
			if err != nil {
				return err
			}
			return replaceScopes(ctx, tx, "api_key_scopes", "key_id", keyID, k.Scopes)
		})
}

// RotateAPIKey implements clients.Store. next.ClientID may be left empty: it
// is the old key's client.
func (s *Store) RotateAPIKey(ctx context.Context, oldKeyID string, next clients.APIKey, oldExpiresAt time.Time) error {
	err := s.db.Tx(ctx, func(tx database.Tx) error {
		if err := lockRow(ctx, tx, s.lockAPIKeySQL, oldKeyID); err != nil {
			return err
		}
		old, err := s.getAPIKey(ctx, tx, oldKeyID)
		if err != nil {
			return err
		}
		if err := sameOwner(fmt.Sprintf("api key %q", next.KeyID), &next.ClientID, old.ClientID); err != nil {
			return err
		}
		if err := insertAPIKey(ctx, tx, next); err != nil {
			return err
		}
		expires := old.ExpiresAt
		if !oldExpiresAt.IsZero() && (expires.IsZero() || oldExpiresAt.Before(expires)) {
			expires = oldExpiresAt
		}
		_, err = tx.Exec(ctx, `UPDATE api_keys SET expires_at = $2, replaced_by = $3 WHERE key_id = $1`,
			oldKeyID, database.NullTime(expires), next.KeyID)
		return err
	})
	if err != nil {
		return fmt.Errorf("clients: rotate api key %q: %w", oldKeyID, err)
	}
	return nil
}

// TouchAPIKey implements clients.Store. An unknown key is not an error: the
// caller has just authenticated it, and telling "absent" from "throttled"
// would cost a second query on every request.
func (s *Store) TouchAPIKey(ctx context.Context, keyID string, at time.Time, minInterval time.Duration) error {
	threshold := at.Add(-max(minInterval, 0))
	_, err := s.db.Exec(ctx, `
		UPDATE api_keys SET last_used_at = $2
		WHERE key_id = $1 AND (last_used_at IS NULL OR last_used_at < $3)`,
		keyID, at, threshold)
	if err != nil {
		return fmt.Errorf("clients: touch api key %q: %w", keyID, err)
	}
	return nil
}
