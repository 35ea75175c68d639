package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/internal/codec"
)

const refreshColumns = `hash, family_id, scopes, created_at, idle_expires_at, rotated_at`

// RotateRefresh implements grantstore.Store. The write lock is taken before
// the token is read, so of concurrent rotations of one token the first
// rotates it and every later one reads it rotated: a replay.
func (s *Store) RotateRefresh(ctx context.Context, oldHash []byte, next grantstore.Refresh, now time.Time) (grantstore.Family, grantstore.Refresh, error) {
	var (
		f   grantstore.Family
		old grantstore.Refresh
		// refusal is decided inside the transaction, which must still
		// commit: a replay's revocation of the family is its point.
		refusal error
	)
	err := database.ImmediateTx(ctx, s.db, func(conn *sql.Conn) error {
		var err error
		if old, f, err = getRefresh(ctx, conn, oldHash); err != nil {
			return err
		}
		refusal = codec.Refusal(old, f, now)
		switch {
		case errors.Is(refusal, grantstore.ErrRefreshReused):
			if !f.RevokedAt.IsZero() {
				return nil // an earlier revocation stands
			}
			f.RevokedAt, f.RevokeReason = database.FromMicros(database.Micros(now)), grantstore.ReasonRefreshReuse
			_, err := conn.ExecContext(ctx, `
				UPDATE grant_families SET revoked_at = ?, revoke_reason = ?
				WHERE id = ? AND revoked_at IS NULL`,
				database.Micros(now), grantstore.ReasonRefreshReuse, f.ID)
			return err
		case refusal != nil:
			return nil // nothing to write
		}
		if err := codec.CheckRefresh(next, f.ID); err != nil {
			return err
		}
		old.RotatedAt = database.FromMicros(database.Micros(now))
		if _, err := conn.ExecContext(ctx,
			`UPDATE grant_refresh_tokens SET rotated_at = ? WHERE hash = ?`, database.Micros(now), oldHash); err != nil {
			return err
		}
		return insertRefresh(ctx, conn, next)
	})
	switch {
	case err != nil:
		return grantstore.Family{}, grantstore.Refresh{}, fmt.Errorf("grantstore: rotate refresh token: %w", err)
	case refusal != nil:
		return f, old, fmt.Errorf("grantstore: rotate refresh token of family %q: %w", f.ID, refusal)
	}
	return f, old, nil
}

// GetRefresh implements grantstore.Store.
func (s *Store) GetRefresh(ctx context.Context, hash []byte) (grantstore.Refresh, grantstore.Family, error) {
	rt, f, err := getRefresh(ctx, s.db, hash)
	if err != nil {
		return grantstore.Refresh{}, grantstore.Family{}, fmt.Errorf("grantstore: get refresh token: %w", err)
	}
	return rt, f, nil
}

// getRefresh reads a token and its family in one statement, so both come
// from the same snapshot.
func getRefresh(ctx context.Context, q querier, hash []byte) (grantstore.Refresh, grantstore.Family, error) {
	var (
		rr refreshRow
		fr familyRow
	)
	err := q.QueryRowContext(ctx, `
		SELECT r.hash, r.family_id, r.scopes, r.created_at, r.idle_expires_at, r.rotated_at,
		       f.id, f.client_id, f.user_id, f.scopes, f.resources,
		       f.auth_time, f.created_at, f.expires_at, f.revoked_at, f.revoke_reason
		FROM grant_refresh_tokens r JOIN grant_families f ON f.id = r.family_id
		WHERE r.hash = ?`, hash).Scan(append(rr.dest(), fr.dest()...)...)
	if err != nil {
		return grantstore.Refresh{}, grantstore.Family{}, one(err)
	}
	rt, err := rr.refresh()
	if err != nil {
		return grantstore.Refresh{}, grantstore.Family{}, err
	}
	f, err := fr.family()
	if err != nil {
		return grantstore.Refresh{}, grantstore.Family{}, err
	}
	return rt, f, nil
}

// insertRefresh stores rt, checked by the caller.
func insertRefresh(ctx context.Context, q querier, rt grantstore.Refresh) error {
	scopes, err := codec.List(rt.Scopes)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO grant_refresh_tokens (`+refreshColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		rt.Hash, rt.FamilyID, scopes, database.Micros(rt.CreatedAt), database.Micros(rt.IdleExpiresAt), database.NullMicros(rt.RotatedAt))
	return exists(err)
}

// refreshRow receives the refreshColumns of a row.
type refreshRow struct {
	rt            grantstore.Refresh
	scopes        string
	created, idle int64
	rotated       sql.NullInt64
}

func (r *refreshRow) dest() []any {
	return []any{&r.rt.Hash, &r.rt.FamilyID, &r.scopes, &r.created, &r.idle, &r.rotated}
}

func (r *refreshRow) refresh() (grantstore.Refresh, error) {
	rt := r.rt
	var err error
	if rt.Scopes, err = codec.ParseList(r.scopes); err != nil {
		return grantstore.Refresh{}, err
	}
	rt.CreatedAt, rt.IdleExpiresAt = database.FromMicros(r.created), database.FromMicros(r.idle)
	rt.RotatedAt = database.FromNullMicros(r.rotated)
	return rt, nil
}
