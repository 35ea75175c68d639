package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/internal/codec"
)

const refreshColumns = `hash, family_id, scopes, created_at, idle_expires_at, rotated_at`

// RotateRefresh implements grantstore.Store. The token is locked first,
// then its family, each with its own statement so the order is fixed (a
// join's locking order would be the planner's): a concurrent rotation of
// the same token waits on the first lock and then reads the token rotated,
// a replay; a concurrent revocation of the family waits on the second.
// SQLite has no row locks and could read both in one join, as GetRefresh
// does; it runs the same two statements, which read one state all the same
// (its transaction holds the write lock from BEGIN) and cost it one more
// statement in process, not a round trip, so one text serves both.
func (s *Store) RotateRefresh(ctx context.Context, oldHash []byte, next grantstore.Refresh, now time.Time) (grantstore.Family, grantstore.Refresh, error) {
	var (
		f   grantstore.Family
		old grantstore.Refresh
		// refusal is decided inside the transaction, which must still
		// commit: a replay's revocation of the family is its point.
		refusal error
	)
	err := s.db.Tx(ctx, func(tx database.Tx) error {
		var err error
		if old, err = scanRefresh(tx.QueryRow(ctx, s.lockRefresh, oldHash)); err != nil {
			return one(err)
		}
		if f, err = scanFamily(tx.QueryRow(ctx, s.lockFamily, old.FamilyID)); err != nil {
			return one(err)
		}
		refusal = codec.Refusal(old, f, now)
		switch {
		case errors.Is(refusal, grantstore.ErrRefreshReused):
			if !f.RevokedAt.IsZero() {
				return nil // an earlier revocation stands
			}
			f.RevokedAt, f.RevokeReason = database.Stored(now), grantstore.ReasonRefreshReuse
			_, err := tx.Exec(ctx, `
				UPDATE grant_families SET revoked_at = $1, revoke_reason = $2
				WHERE id = $3 AND revoked_at IS NULL`,
				now, grantstore.ReasonRefreshReuse, f.ID)
			return err
		case refusal != nil:
			return nil // nothing to write
		}
		if err := codec.CheckRefresh(next, f.ID); err != nil {
			return err
		}
		old.RotatedAt = database.Stored(now)
		if _, err := tx.Exec(ctx,
			`UPDATE grant_refresh_tokens SET rotated_at = $1 WHERE hash = $2`, now, oldHash); err != nil {
			return err
		}
		return insertRefresh(ctx, tx, next)
	})
	switch {
	case err != nil:
		return grantstore.Family{}, grantstore.Refresh{}, fmt.Errorf("grantstore: rotate refresh token: %w", err)
	case refusal != nil:
		return f, old, fmt.Errorf("grantstore: rotate refresh token of family %q: %w", f.ID, refusal)
	}
	return f, old, nil
}

// GetRefresh implements grantstore.Store. One statement reads the token
// and its family from the same snapshot.
func (s *Store) GetRefresh(ctx context.Context, hash []byte) (grantstore.Refresh, grantstore.Family, error) {
	var (
		rr refreshRow
		fr familyRow
	)
	err := s.db.QueryRow(ctx, `
		SELECT r.hash, r.family_id, r.scopes, r.created_at, r.idle_expires_at, r.rotated_at,
		       f.id, f.client_id, f.user_id, f.scopes, f.resources,
		       f.auth_time, f.created_at, f.expires_at, f.revoked_at, f.revoke_reason, f.session_id, f.dpop_jkt
		FROM grant_refresh_tokens r JOIN grant_families f ON f.id = r.family_id
		WHERE r.hash = $1`, hash).Scan(append(rr.dest(), fr.dest()...)...)
	var (
		rt grantstore.Refresh
		f  grantstore.Family
	)
	if err == nil {
		rt, err = rr.refresh()
	}
	if err == nil {
		f, err = fr.family()
	}
	if err != nil {
		return grantstore.Refresh{}, grantstore.Family{}, fmt.Errorf("grantstore: get refresh token: %w", one(err))
	}
	return rt, f, nil
}

// insertRefresh stores rt, checked by the caller.
func insertRefresh(ctx context.Context, q database.Querier, rt grantstore.Refresh) error {
	scopes, err := codec.List(rt.Scopes)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO grant_refresh_tokens (`+refreshColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		rt.Hash, rt.FamilyID, scopes, rt.CreatedAt, rt.IdleExpiresAt, database.NullTime(rt.RotatedAt))
	return exists(err)
}

func scanRefresh(row database.Row) (grantstore.Refresh, error) {
	var r refreshRow
	if err := row.Scan(r.dest()...); err != nil {
		return grantstore.Refresh{}, err
	}
	return r.refresh()
}

// refreshRow receives the refreshColumns of a row.
type refreshRow struct {
	rt     grantstore.Refresh
	scopes string
}

func (r *refreshRow) dest() []any {
	return []any{&r.rt.Hash, &r.rt.FamilyID, &r.scopes, &r.rt.CreatedAt, &r.rt.IdleExpiresAt, &r.rt.RotatedAt}
}

func (r *refreshRow) refresh() (grantstore.Refresh, error) {
	rt := r.rt
	var err error
	if rt.Scopes, err = codec.ParseList(r.scopes); err != nil {
		return grantstore.Refresh{}, err
	}
	return rt, nil
}
