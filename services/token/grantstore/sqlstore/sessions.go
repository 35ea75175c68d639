package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/internal/codec"
)

const sessionColumns = `hash, user_id, auth_time, created_at, expires_at, revoked_at`

// CreateSession implements grantstore.Store.
func (s *Store) CreateSession(ctx context.Context, se grantstore.Session) error {
	err := codec.CheckHash("session", se.Hash)
	if err == nil {
		_, err = s.db.Exec(ctx, `INSERT INTO grant_sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			se.Hash, se.UserID, se.AuthTime, se.CreatedAt, se.ExpiresAt, database.NullTime(se.RevokedAt))
		err = exists(err)
	}
	if err != nil {
		return fmt.Errorf("grantstore: create session of user %q: %w", se.UserID, err)
	}
	return nil
}

// GetSession implements grantstore.Store.
func (s *Store) GetSession(ctx context.Context, hash []byte) (grantstore.Session, error) {
	var se grantstore.Session
	err := s.db.QueryRow(ctx, `SELECT `+sessionColumns+` FROM grant_sessions WHERE hash = $1`, hash).
		Scan(&se.Hash, &se.UserID, &se.AuthTime, &se.CreatedAt, &se.ExpiresAt, &se.RevokedAt)
	if err != nil {
		return grantstore.Session{}, fmt.Errorf("grantstore: get session: %w", one(err))
	}
	return se, nil
}

// ReauthenticateSession implements grantstore.Store.
func (s *Store) ReauthenticateSession(ctx context.Context, hash []byte, authTime time.Time) error {
	n, err := s.db.Exec(ctx, `
		UPDATE grant_sessions SET auth_time = $1
		WHERE hash = $2 AND revoked_at IS NULL AND expires_at > $1`, authTime, hash)
	if err == nil && n == 0 {
		err = grantstore.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("grantstore: reauthenticate session: %w", err)
	}
	return nil
}

// RevokeSession implements grantstore.Store. COALESCE keeps the first
// revocation time; the row still counts as updated, so zero rows means
// unknown.
func (s *Store) RevokeSession(ctx context.Context, hash []byte, now time.Time) error {
	n, err := s.db.Exec(ctx,
		`UPDATE grant_sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE hash = $2`, now, hash)
	if err == nil && n == 0 {
		err = grantstore.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("grantstore: revoke session: %w", err)
	}
	return nil
}

// RevokeUserSessions implements grantstore.Store.
func (s *Store) RevokeUserSessions(ctx context.Context, userID string, before, now time.Time) (int64, error) {
	n, err := s.db.Exec(ctx, `
		UPDATE grant_sessions SET revoked_at = $1
		WHERE user_id = $2 AND revoked_at IS NULL AND expires_at > $1 AND created_at <= $3`, now, userID, before)
	if err != nil {
		return 0, fmt.Errorf("grantstore: revoke sessions of user %q: %w", userID, err)
	}
	return n, nil
}
