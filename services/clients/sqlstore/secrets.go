package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

func insertSecret(ctx context.Context, q database.Querier, sec clients.Secret) error {
	_, err := q.Exec(ctx, `
		INSERT INTO client_secrets (client_id, hash, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		sec.ClientID, notNilBytes(sec.Hash), sec.CreatedAt, database.NullTime(sec.ExpiresAt))
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("secret created at %s: %w", sec.CreatedAt.UTC().Format(time.RFC3339Nano), clients.ErrAlreadyExists)
	}
	if database.IsForeignKeyViolation(err) {
		return fmt.Errorf("client %q: %w", sec.ClientID, clients.ErrNotFound)
	}
	return err
}

// ListSecrets implements clients.Store.
func (s *Store) ListSecrets(ctx context.Context, clientID string) ([]clients.Secret, error) {
	rows, err := s.db.Query(ctx, `
		SELECT client_id, hash, created_at, expires_at FROM client_secrets
		WHERE client_id = $1 ORDER BY created_at DESC`, clientID)
	if err != nil {
		return nil, fmt.Errorf("clients: list secrets of %q: %w", clientID, err)
	}
	defer rows.Close()
	out := []clients.Secret{}
	for rows.Next() {
		var sec clients.Secret
		if err := rows.Scan(&sec.ClientID, &sec.Hash, &sec.CreatedAt, &sec.ExpiresAt); err != nil {
			return nil, fmt.Errorf("clients: list secrets of %q: %w", clientID, err)
		}
		out = append(out, sec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clients: list secrets of %q: %w", clientID, err)
	}
	return out, nil
}

// RotateSecret implements clients.Store. A zero previousExpiresAt retires
// the current secrets at once (they expire at next.CreatedAt) rather than
// leaving them valid for ever.
func (s *Store) RotateSecret(ctx context.Context, next clients.Secret, previousExpiresAt time.Time) error {
	if previousExpiresAt.IsZero() {
		previousExpiresAt = next.CreatedAt
	}
	err := s.db.Tx(ctx, func(tx database.Tx) error {
		// Two rotations of one client at once would otherwise both see the
		// same current secret.
		if err := lockRow(ctx, tx, s.lockClientSQL, next.ClientID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			DELETE FROM client_secrets
			WHERE client_id = $1 AND expires_at IS NOT NULL AND expires_at <= $2`,
			next.ClientID, next.CreatedAt)
		if err != nil {
			return fmt.Errorf("delete expired secrets: %w", err)
		}
		_, err = tx.Exec(ctx, `
			UPDATE client_secrets SET expires_at = $2
			WHERE client_id = $1 AND expires_at IS NULL`,
			next.ClientID, previousExpiresAt)
		if err != nil {
			return fmt.Errorf("expire current secret: %w", err)
		}
		return insertSecret(ctx, tx, next)
	})
	if err != nil {
		return fmt.Errorf("clients: rotate secret of %q: %w", next.ClientID, err)
	}
	return nil
}
