package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

const apiKeyColumns = `
	k.key_id, k.client_id, k.secret_hash, k.description,
	k.expires_at, k.created_at, k.last_used_at, k.revoked, k.revoked_at, k.replaced_by,
	(SELECT json_group_array(scope ORDER BY scope) FROM api_key_scopes ks WHERE ks.key_id = k.key_id)`

func scanAPIKey(row scanner) (clients.APIKey, error) {
	var (
		k                          clients.APIKey
		created                    int64
		expires, lastUsed, revoked sql.NullInt64
		scopes                     string
	)
	err := row.Scan(&k.KeyID, &k.ClientID, &k.SecretHash, &k.Description,
		&expires, &created, &lastUsed, &k.Revoked, &revoked, &k.ReplacedBy, &scopes)
	if err != nil {
		return clients.APIKey{}, err
	}
	if k.Scopes, err = parseList(scopes); err != nil {
		return clients.APIKey{}, err
	}
	k.CreatedAt = database.FromMicros(created)
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = database.FromNullMicros(expires), database.FromNullMicros(lastUsed), database.FromNullMicros(revoked)
	return k, nil
}

func insertAPIKey(ctx context.Context, q querier, k clients.APIKey) error {
	_, err := q.ExecContext(ctx, `
		INSERT INTO api_keys (
			key_id, client_id, secret_hash, description,
			expires_at, created_at, last_used_at, revoked, revoked_at, replaced_by
		) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.KeyID, k.ClientID, notNilBytes(k.SecretHash), k.Description,
		database.NullMicros(k.ExpiresAt), database.Micros(k.CreatedAt), database.NullMicros(k.LastUsedAt), k.Revoked, database.NullMicros(k.RevokedAt), k.ReplacedBy)
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
	k, err := scanAPIKey(q.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE k.key_id = ?`, keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return clients.APIKey{}, clients.ErrNotFound
	}
	return k, err
}

// GetAPIKey implements clients.Store.
func (s *Store) GetAPIKey(ctx context.Context, keyID string) (clients.APIKey, error) {
	k, err := getAPIKey(ctx, s.db, keyID)
	if err != nil {
		return clients.APIKey{}, fmt.Errorf("clients: get api key %q: %w", keyID, err)
	}
	return k, nil
}

// ListAPIKeys implements clients.Store.
func (s *Store) ListAPIKeys(ctx context.Context, clientID string) ([]clients.APIKey, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+apiKeyColumns+` FROM api_keys k
		WHERE k.client_id = ? ORDER BY k.created_at DESC, k.key_id DESC`, clientID)
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
	var (
		out       clients.APIKey
		updateErr error
	)
	err := s.tx(ctx, func(q querier) error {
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
		_, err = q.ExecContext(ctx, `
			UPDATE api_keys SET
				secret_hash = ?, description = ?, expires_at = ?, created_at = ?,
				last_used_at = ?, revoked = ?, revoked_at = ?, replaced_by = ?
			WHERE key_id = ?`,
			notNilBytes(k.SecretHash), k.Description, database.NullMicros(k.ExpiresAt), database.Micros(k.CreatedAt),
			database.NullMicros(k.LastUsedAt), k.Revoked, database.NullMicros(k.RevokedAt), k.ReplacedBy,
			keyID)
		if err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM api_key_scopes WHERE key_id = ?`, keyID); err != nil {
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
		_, err = q.ExecContext(ctx, `UPDATE api_keys SET expires_at = ?, replaced_by = ? WHERE key_id = ?`,
			database.NullMicros(expires), next.KeyID, oldKeyID)
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
	_, err := s.db.ExecContext(ctx, `
		UPDATE api_keys SET last_used_at = ?
		WHERE key_id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		database.Micros(at), keyID, database.Micros(threshold))
	if err != nil {
		return fmt.Errorf("clients: touch api key %q: %w", keyID, err)
	}
	return nil
}
