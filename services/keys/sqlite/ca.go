package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

var _ keys.CAStore = (*Store)(nil)

// GetCA implements keys.CAStore.
func (s *Store) GetCA(ctx context.Context) (keys.StoredCA, error) {
	var (
		ca      keys.StoredCA
		created int64
	)
	err := s.db.QueryRowContext(ctx, `
		SELECT serial, certificate, private_key, created_at
		FROM platform_ca WHERE id = 'platform'`).Scan(&ca.Serial, &ca.Certificate, &ca.PrivateKey, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return keys.StoredCA{}, fmt.Errorf("keys: platform CA: %w", keys.ErrNotFound)
	}
	if err != nil {
		return keys.StoredCA{}, fmt.Errorf("keys: platform CA: %w", err)
	}
	ca.CreatedAt = database.FromMicros(created)
	return ca, nil
}

// CreateCA implements keys.CAStore. The row's fixed id is the unique key:
// of concurrent inserts one wins and the others change nothing.
func (s *Store) CreateCA(ctx context.Context, ca keys.StoredCA) (keys.StoredCA, error) {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO platform_ca (id, serial, certificate, private_key, created_at)
		VALUES ('platform', ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`,
		ca.Serial, ca.Certificate, ca.PrivateKey, database.Micros(ca.CreatedAt))
	if err != nil {
		return keys.StoredCA{}, fmt.Errorf("keys: create platform CA: %w", err)
	}
	return s.GetCA(ctx)
}

// InsertCertificate implements keys.CAStore.
func (s *Store) InsertCertificate(ctx context.Context, c keys.IssuedCert) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO client_certificates (serial, client_id, thumbprint, not_before, not_after, der)
		VALUES (?, ?, ?, ?, ?, ?)`,
		c.Serial, c.ClientID, c.Thumbprint, database.Micros(c.NotBefore), database.Micros(c.NotAfter), c.DER)
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("keys: insert certificate %s: %w", c.Serial, keys.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("keys: insert certificate %s: %w", c.Serial, err)
	}
	return nil
}

// ListCertificates implements keys.CAStore.
func (s *Store) ListCertificates(ctx context.Context, clientID string) ([]keys.IssuedCert, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT serial, client_id, thumbprint, not_before, not_after, der
		FROM client_certificates
		WHERE client_id = ?
		ORDER BY not_before DESC, serial`, clientID)
	if err != nil {
		return nil, fmt.Errorf("keys: list certificates: %w", err)
	}
	defer rows.Close()
	out := []keys.IssuedCert{}
	for rows.Next() {
		var (
			c             keys.IssuedCert
			before, after int64
		)
		if err := rows.Scan(&c.Serial, &c.ClientID, &c.Thumbprint, &before, &after, &c.DER); err != nil {
			return nil, fmt.Errorf("keys: list certificates: %w", err)
		}
		c.NotBefore, c.NotAfter = database.FromMicros(before), database.FromMicros(after)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keys: list certificates: %w", err)
	}
	return out, nil
}
