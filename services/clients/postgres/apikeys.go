package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

const apiKeyColumns = `
	k.key_id, k.client_id, k.secret_hash, k.description,
	k.expires_at, k.created_at, k.last_used_at, k.revoked, k.revoked_at, k.replaced_by,
	ARRAY(SELECT ks.scope FROM api_key_scopes ks WHERE ks.key_id = k.key_id ORDER BY ks.scope)`

func scanAPIKey(row pgx.Row) (clients.APIKey, error) {
	var (
		k                          clients.APIKey
		expires, lastUsed, revoked *time.Time
	)
	err := row.Scan(&k.KeyID, &k.ClientID, &k.SecretHash, &k.Description,
		&expires, &k.CreatedAt, &lastUsed, &k.Revoked, &revoked, &k.ReplacedBy, &k.Scopes)
	if err != nil {
		return clients.APIKey{}, err
	}
	k.Scopes = list(k.Scopes)
	k.CreatedAt = utc(k.CreatedAt)
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = fromNullTime(expires), fromNullTime(lastUsed), fromNullTime(revoked)
	return k, nil
}

func insertAPIKey(ctx context.Context, q querier, k clients.APIKey) error {
	_, err := q.Exec(ctx, `
		INSERT INTO api_keys (
			key_id, client_id, secret_hash, description,
			expires_at, created_at, last_used_at, revoked, revoked_at, replaced_by
		) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		k.KeyID, k.ClientID, notNilBytes(k.SecretHash), k.Description,
		nullTime(k.ExpiresAt), k.CreatedAt, nullTime(k.LastUsedAt), k.Revoked, nullTime(k.RevokedAt), k.ReplacedBy)
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
	err := s.tx(ctx, func(q querier) error { return insertAPIKey(ctx, q, k) })
	if err != nil {
		return fmt.Errorf("clients: create api key %q: %w", k.KeyID, err)
	}
	return nil
}

func getAPIKey(ctx context.Context, q querier, keyID string) (clients.APIKey, error) {
	k, err := scanAPIKey(q.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE k.key_id = $1`, keyID))
	if errors.Is(err, pgx.ErrNoRows) {
		return clients.APIKey{}, clients.ErrNotFound
	}
	return k, err
}

// GetAPIKey implements clients.Store.
func (s *Store) GetAPIKey(ctx context.Context, keyID string) (clients.APIKey, error) {
	k, err := getAPIKey(ctx, s.pool, keyID)
	if err != nil {
		return clients.APIKey{}, fmt.Errorf("clients: get api key %q: %w", keyID, err)
	}
	return k, nil
}

// ListAPIKeys implements clients.Store.
func (s *Store) ListAPIKeys(ctx context.Context, clientID string) ([]clients.APIKey, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+apiKeyColumns+` FROM api_keys k
		WHERE k.client_id = $1 ORDER BY k.created_at DESC, k.key_id DESC`, clientID)
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

// lockAPIKey serialises writers of one key; see lockClient for the lock mode.
func lockAPIKey(ctx context.Context, q querier, keyID string) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM api_keys WHERE key_id = $1 FOR NO KEY UPDATE`, keyID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return clients.ErrNotFound
	}
	return err
}

// UpdateAPIKey implements clients.Store. key_id and client_id cannot change.
func (s *Store) UpdateAPIKey(ctx context.Context, keyID string, update func(*clients.APIKey) error) (clients.APIKey, error) {
	var (
		out       clients.APIKey
		updateErr error
	)
	err := s.tx(ctx, func(q querier) error {
		if err := lockAPIKey(ctx, q, keyID); err != nil {
			return err
		}
		// A new statement after the lock sees the previous holder's commit.
		k, err := getAPIKey(ctx, q, keyID)
		if err != nil {
			return err
		}
		clientID := k.ClientID
		if err := update(&k); err != nil {
			updateErr = err
			return err
		}
		if k.KeyID != keyID || k.ClientID != clientID {
			return errors.New("the update changed the key_id or client_id")
		}
		_, err = q.Exec(ctx, `
			UPDATE api_keys SET
				secret_hash = $2, description = $3, expires_at = $4, created_at = $5,
				last_used_at = $6, revoked = $7, revoked_at = $8, replaced_by = $9
			WHERE key_id = $1`,
			keyID, notNilBytes(k.SecretHash), k.Description, nullTime(k.ExpiresAt), k.CreatedAt,
			nullTime(k.LastUsedAt), k.Revoked, nullTime(k.RevokedAt), k.ReplacedBy)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM api_key_scopes WHERE key_id = $1`, keyID); err != nil {
			return err
		}
		if err := grantScopes(ctx, q, "api_key_scopes", "key_id", keyID, k.Scopes); err != nil {
			return err
		}
		out, err = getAPIKey(ctx, q, keyID)
		return err
	})
	if updateErr != nil {
		return clients.APIKey{}, updateErr
	}
	if err != nil {
		return clients.APIKey{}, fmt.Errorf("clients: update api key %q: %w", keyID, err)
	}
	return out, nil
}

// RotateAPIKey implements clients.Store. next.ClientID may be left empty: it
// is the old key's client.
func (s *Store) RotateAPIKey(ctx context.Context, oldKeyID string, next clients.APIKey, oldExpiresAt time.Time) error {
	err := s.tx(ctx, func(q querier) error {
		if err := lockAPIKey(ctx, q, oldKeyID); err != nil {
			return err
		}
		old, err := getAPIKey(ctx, q, oldKeyID)
		if err != nil {
			return err
		}
		if err := sameOwner(fmt.Sprintf("api key %q", next.KeyID), &next.ClientID, old.ClientID); err != nil {
			return err
		}
		if err := insertAPIKey(ctx, q, next); err != nil {
			return err
		}
		expires := old.ExpiresAt
		if !oldExpiresAt.IsZero() && (expires.IsZero() || oldExpiresAt.Before(expires)) {
			expires = oldExpiresAt
		}
		_, err = q.Exec(ctx, `UPDATE api_keys SET expires_at = $2, replaced_by = $3 WHERE key_id = $1`,
			oldKeyID, nullTime(expires), next.KeyID)
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
	_, err := s.pool.Exec(ctx, `
		UPDATE api_keys SET last_used_at = $2
		WHERE key_id = $1 AND (last_used_at IS NULL OR last_used_at < $3)`,
		keyID, at, threshold)
	if err != nil {
		return fmt.Errorf("clients: touch api key %q: %w", keyID, err)
	}
	return nil
}
