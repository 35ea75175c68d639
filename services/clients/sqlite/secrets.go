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

func insertSecret(ctx context.Context, q querier, sec clients.Secret) error {
	_, err := q.ExecContext(ctx, `
		INSERT INTO client_secrets (client_id, hash, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		sec.ClientID, notNilBytes(sec.Hash), database.Micros(sec.CreatedAt), database.NullMicros(sec.ExpiresAt))
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
	rows, err := s.db.QueryContext(ctx, `
		SELECT client_id, hash, created_at, expires_at FROM client_secrets
		WHERE client_id = ? ORDER BY created_at DESC`, clientID)
	if err != nil {
		return nil, fmt.Errorf("clients: list secrets of %q: %w", clientID, err)
	}
	defer rows.Close()
	out := []clients.Secret{}
	for rows.Next() {
		var (
			sec     clients.Secret
			created int64
			expires sql.NullInt64
		)
		if err := rows.Scan(&sec.ClientID, &sec.Hash, &created, &expires); err != nil {
			return nil, fmt.Errorf("clients: list secrets of %q: %w", clientID, err)
		}
		sec.CreatedAt, sec.ExpiresAt = database.FromMicros(created), database.FromNullMicros(expires)
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
	err := s.tx(ctx, func(q querier) error {
		var one int
		err := q.QueryRowContext(ctx, `SELECT 1 FROM clients WHERE client_id = ?`, next.ClientID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return clients.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `
			DELETE FROM client_secrets
			WHERE client_id = ? AND expires_at IS NOT NULL AND expires_at <= ?`,
			next.ClientID, database.Micros(next.CreatedAt))
		if err != nil {
			return fmt.Errorf("delete expired secrets: %w", err)
		}
		_, err = q.ExecContext(ctx, `
			UPDATE client_secrets SET expires_at = ?
			WHERE client_id = ? AND expires_at IS NULL`,
			database.Micros(previousExpiresAt), next.ClientID)
		if err != nil {
			return fmt.Errorf("expire current secret: %w", err)
		}
		return insertSecret(ctx, q, next)
	})
	if err != nil {
		return fmt.Errorf("clients: rotate secret of %q: %w", next.ClientID, err)
	}
	return nil
}
