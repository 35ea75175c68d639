package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

// GetCA implements keys.CAStore.
func (s *Store) GetCA(ctx context.Context) (keys.StoredCA, error) {
	var ca keys.StoredCA
	err := s.db.QueryRow(ctx, `
		SELECT serial, certificate, private_key, created_at
		FROM platform_ca WHERE id = 'platform'`).Scan(&ca.Serial, &ca.Certificate, &ca.PrivateKey, &ca.CreatedAt)
	if errors.Is(err, database.ErrNoRows) {
		return keys.StoredCA{}, fmt.Errorf("keys: platform CA: %w", keys.ErrNotFound)
	}
	if err != nil {
		return keys.StoredCA{}, fmt.Errorf("keys: platform CA: %w", err)
	}
	return ca, nil
}

// CreateCA implements keys.CAStore. The row's fixed id is the unique key:
// of concurrent inserts one wins and the others change nothing.
func (s *Store) CreateCA(ctx context.Context, ca keys.StoredCA) (keys.StoredCA, error) {
	_, err := s.db.Exec(ctx, `
		INSERT INTO platform_ca (id, serial, certificate, private_key, created_at)
		VALUES ('platform', $1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`,
		ca.Serial, ca.Certificate, ca.PrivateKey, ca.CreatedAt)
	if err != nil {
		return keys.StoredCA{}, fmt.Errorf("keys: create platform CA: %w", err)
	}
	return s.GetCA(ctx)
}

// InsertCertificate implements keys.CAStore.
func (s *Store) InsertCertificate(ctx context.Context, c keys.IssuedCert) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO client_certificates (serial, client_id, thumbprint, not_before, not_after, der)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		c.Serial, c.ClientID, c.Thumbprint, c.NotBefore, c.NotAfter, c.DER)
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
	rows, err := s.db.Query(ctx, s.listCertsSQL, clientID)
	if err != nil {
		return nil, fmt.Errorf("keys: list certificates: %w", err)
	}
	defer rows.Close()
	out := []keys.IssuedCert{}
	for rows.Next() {
		var c keys.IssuedCert
		if err := rows.Scan(&c.Serial, &c.ClientID, &c.Thumbprint, &c.NotBefore, &c.NotAfter, &c.DER); err != nil {
			return nil, fmt.Errorf("keys: list certificates: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keys: list certificates: %w", err)
	}
	return out, nil
}
