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

// rotateOne is RotateRefresh on PostgreSQL in one statement, for a
// presentation codec.Refusal would let through: the UPDATE rotates the
// token only if the conditions hold, and the INSERT of the next token reads
// what it returned, so both commit together or not at all. The row lock on
// the token serialises concurrent rotations of it: the one that waited
// re-checks the token as the first left it, rotated, and updates nothing.
// The family is read, not locked: a revocation committed before the
// statement began stops it, one committing meanwhile comes after it, as
// if the rotation had come first. No row means a refusal or a race; the
// locking path tells which.
//
// $1 now, $2 the old hash, $3 the client, $4 the DPoP key's thumbprint, $5
// the next token's scopes as a JSON list ('[]': the old token's), $6 the
// next token's family (empty: any), $7 its hash, $8 its creation, $9 its idle
// expiry.
const rotateOne = `
	WITH old AS (
		UPDATE grant_refresh_tokens r SET rotated_at = $1
		FROM grant_families f
		WHERE r.hash = $2 AND f.id = r.family_id
		  AND f.client_id = $3 AND (f.dpop_jkt = '' OR f.dpop_jkt = $4)
		  AND $5::text::jsonb <@ f.scopes::jsonb AND ($6::text = '' OR f.id = $6)
		  AND r.rotated_at IS NULL AND f.revoked_at IS NULL
		  AND f.expires_at > $1 AND r.idle_expires_at > $1
		RETURNING r.hash, r.family_id, r.scopes AS token_scopes, r.created_at AS token_created_at,
		          r.idle_expires_at, r.rotated_at,
		          f.id, f.client_id, f.user_id, f.scopes, f.resources, f.auth_time, f.created_at, f.expires_at,
		          f.revoked_at, f.revoke_reason, f.session_id, f.dpop_jkt
	), next AS (
		INSERT INTO grant_refresh_tokens (` + refreshColumns + `)
		SELECT $7, family_id, CASE WHEN $5::text = '[]' THEN token_scopes ELSE $5::text END, $8, LEAST($9, expires_at), NULL
		FROM old
	)
	SELECT hash, family_id, token_scopes, token_created_at, idle_expires_at, rotated_at,
	       id, client_id, user_id, scopes, resources, auth_time, created_at, expires_at,
	       revoked_at, revoke_reason, session_id, dpop_jkt
	FROM old`

// RotateRefresh implements grantstore.Store. On PostgreSQL a rotation that
// goes through is one statement (rotateOne): one round trip and one
// commit. A refusal, and SQLite, take the locking path: the token is locked
// first, then its family, each with its own statement so the order is
// fixed (a join's locking order would be the planner's): a concurrent
// rotation of the same token waits on the first lock and then reads the
// token rotated, a replay; a concurrent revocation of the family waits on
// the second. SQLite has no row locks and could read both in one join, as
// GetRefresh does; it runs the same two statements, which read one state
// all the same (its transaction holds the write lock from BEGIN) and cost
// it one more statement in process, not a round trip, so one text serves
// both.
func (s *Store) RotateRefresh(ctx context.Context, oldHash []byte, by grantstore.Presenter, next grantstore.Refresh, now time.Time) (grantstore.Family, grantstore.Refresh, error) {
	if err := codec.CheckHash("refresh token", next.Hash); err != nil {
		return grantstore.Family{}, grantstore.Refresh{}, fmt.Errorf("grantstore: rotate refresh token: %w", err)
	}
	if s.db.Dialect() == database.PostgreSQL {
		f, old, err := s.rotateOne(ctx, oldHash, by, next, now)
		switch {
		case err == nil:
			return f, old, nil
		case !errors.Is(err, database.ErrNoRows):
			return grantstore.Family{}, grantstore.Refresh{}, fmt.Errorf("grantstore: rotate refresh token: %w", exists(err))
		}
	}
	return s.rotateLocked(ctx, oldHash, by, next, now)
}

func (s *Store) rotateOne(ctx context.Context, oldHash []byte, by grantstore.Presenter, next grantstore.Refresh, now time.Time) (grantstore.Family, grantstore.Refresh, error) {
	scopes, err := codec.List(next.Scopes)
	if err != nil {
		return grantstore.Family{}, grantstore.Refresh{}, err
	}
	var (
		rr refreshRow
		fr familyRow
	)
	err = s.db.QueryRow(ctx, rotateOne, now, oldHash, by.ClientID, by.DPoPJKT, scopes, next.FamilyID,
		next.Hash, next.CreatedAt, next.IdleExpiresAt).Scan(append(rr.dest(), fr.dest()...)...)
	if err != nil {
		return grantstore.Family{}, grantstore.Refresh{}, err
	}
	old, err := rr.refresh()
	if err != nil {
		return grantstore.Family{}, grantstore.Refresh{}, err
	}
	f, err := fr.family()
	if err != nil {
		return grantstore.Family{}, grantstore.Refresh{}, err
	}
	return f, old, nil
}

// rotateLocked is RotateRefresh in a transaction that locks the token and
// its family, reads them and decides with codec.Refusal.
func (s *Store) rotateLocked(ctx context.Context, oldHash []byte, by grantstore.Presenter, next grantstore.Refresh, now time.Time) (grantstore.Family, grantstore.Refresh, error) {
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
		refusal = codec.Refusal(old, f, by, next.Scopes, now)
		switch {
		case errors.Is(refusal, grantstore.ErrRefreshReused):
			if !f.RevokedAt.IsZero() {
				return nil // an earlier revocation stands
			}
			f.RevokedAt, f.RevokeReason = database.Stored(now), grantstore.ReasonRefreshReuse
			tx.Defer(`
				UPDATE grant_families SET revoked_at = $1, revoke_reason = $2
				WHERE id = $3 AND revoked_at IS NULL`,
				now, grantstore.ReasonRefreshReuse, f.ID)
			return nil
		case refusal != nil:
			return nil // nothing to write
		}
		next := codec.Next(next, old, f)
		if err := codec.CheckRefresh(next, f.ID); err != nil {
			return err
		}
		old.RotatedAt = database.Stored(now)
		tx.Defer(`UPDATE grant_refresh_tokens SET rotated_at = $1 WHERE hash = $2`, now, oldHash)
		return insertRefresh(tx, next)
	})
	switch {
	case err != nil:
		return grantstore.Family{}, grantstore.Refresh{}, fmt.Errorf("grantstore: rotate refresh token: %w", exists(err))
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

// insertRefresh stores rt, checked by the caller, when tx commits; the
// caller maps a duplicate to ErrExists.
func insertRefresh(tx database.Tx, rt grantstore.Refresh) error {
	scopes, err := codec.List(rt.Scopes)
	if err != nil {
		return err
	}
	tx.Defer(`INSERT INTO grant_refresh_tokens (`+refreshColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		rt.Hash, rt.FamilyID, scopes, rt.CreatedAt, rt.IdleExpiresAt, database.NullTime(rt.RotatedAt))
	return nil
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
