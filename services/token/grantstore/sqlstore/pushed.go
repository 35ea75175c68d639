package sqlstore

import (
	"context"

	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/internal/codec"
)

// CreatePushedRequest implements grantstore.Store.
func (s *Store) CreatePushedRequest(ctx context.Context, p grantstore.PushedRequest) error {
	if err := codec.CheckHash("pushed request", p.Hash); err != nil {
		return fmt.Errorf("grantstore: create pushed request of client %q: %w", p.ClientID, err)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO grant_pushed_requests (hash, client_id, params, created_at, expires_at, used_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		p.Hash, p.ClientID, p.Params, p.CreatedAt, p.ExpiresAt, database.NullTime(p.UsedAt))
	if err = exists(err); err != nil {
		return fmt.Errorf("grantstore: create pushed request of client %q: %w", p.ClientID, err)
	}
	return nil
}

// GetPushedRequest implements grantstore.Store.
func (s *Store) GetPushedRequest(ctx context.Context, hash []byte) (grantstore.PushedRequest, error) {
	var p grantstore.PushedRequest
	err := s.db.QueryRow(ctx, `SELECT hash, client_id, params, created_at, expires_at, used_at
		FROM grant_pushed_requests WHERE hash = $1`, hash).
		Scan(&p.Hash, &p.ClientID, &p.Params, &p.CreatedAt, &p.ExpiresAt, &p.UsedAt)
	if err != nil {
		return grantstore.PushedRequest{}, fmt.Errorf("grantstore: get pushed request: %w", one(err))
	}
	return p, nil
}

// UsePushedRequest implements grantstore.Store. The update's condition is
// the single-use check, so concurrent calls need no lock: the database
// lets one of them change the row.
func (s *Store) UsePushedRequest(ctx context.Context, hash []byte, now time.Time) error {
	n, err := s.db.Exec(ctx, `UPDATE grant_pushed_requests SET used_at = $1 WHERE hash = $2 AND used_at IS NULL`, now, hash)
	if err != nil {
		return fmt.Errorf("grantstore: use pushed request: %w", err)
	}
	if n == 1 {
		return nil
	}
	if _, err := s.GetPushedRequest(ctx, hash); err != nil {
		return err
	}
	return fmt.Errorf("grantstore: use pushed request: %w", grantstore.ErrUsed)
}
