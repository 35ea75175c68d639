package sqlite

import (
	"context"
	"database/sql"
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
		_, err = s.db.ExecContext(ctx, `INSERT INTO grant_sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			se.Hash, se.UserID, database.Micros(se.AuthTime), database.Micros(se.CreatedAt), database.Micros(se.ExpiresAt), database.NullMicros(se.RevokedAt))
		err = exists(err)
	}
	if err != nil {
		return fmt.Errorf("grantstore: create session of user %q: %w", se.UserID, err)
	}
	return nil
}

// GetSession implements grantstore.Store.
func (s *Store) GetSession(ctx context.Context, hash []byte) (grantstore.Session, error) {
	var (
		se                         grantstore.Session
		authTime, created, expires int64
		revoked                    sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM grant_sessions WHERE hash = ?`, hash).
		Scan(&se.Hash, &se.UserID, &authTime, &created, &expires, &revoked)
	if err != nil {
		return grantstore.Session{}, fmt.Errorf("grantstore: get session: %w", one(err))
	}
	se.AuthTime, se.CreatedAt, se.ExpiresAt = database.FromMicros(authTime), database.FromMicros(created), database.FromMicros(expires)
	se.RevokedAt = database.FromNullMicros(revoked)
	return se, nil
}

// RevokeSession implements grantstore.Store. COALESCE keeps the first
// revocation time; the row still counts as affected, so zero rows means
// unknown.
func (s *Store) RevokeSession(ctx context.Context, hash []byte, now time.Time) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE grant_sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE hash = ?`, database.Micros(now), hash)
	if err == nil {
		err = affectedOne(res)
	}
	if err != nil {
		return fmt.Errorf("grantstore: revoke session: %w", err)
	}
	return nil
}

// RevokeUserSessions implements grantstore.Store.
func (s *Store) RevokeUserSessions(ctx context.Context, userID string, before, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `
		UPDATE grant_sessions SET revoked_at = ?
		WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND created_at <= ?`, database.Micros(now), userID, database.Micros(now), database.Micros(before))
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		return 0, fmt.Errorf("grantstore: revoke sessions of user %q: %w", userID, err)
	}
	return n, nil
}

// affectedOne maps an UPDATE that matched no row to grantstore.ErrNotFound.
func affectedOne(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return grantstore.ErrNotFound
	}
	return nil
}
