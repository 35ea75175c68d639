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

const familyColumns = `id, client_id, user_id, scopes, resources,
	auth_time, created_at, expires_at, revoked_at, revoke_reason, session_id, dpop_jkt`

// CreateFamily implements grantstore.Store. The family and its first token
// go in one transaction: a token never exists without its family.
func (s *Store) CreateFamily(ctx context.Context, f grantstore.Family, rt *grantstore.Refresh) error {
	err := s.db.Tx(ctx, func(tx database.Tx) error { return insertFamily(tx, f, rt) })
	if err != nil {
		return fmt.Errorf("grantstore: create family %q: %w", f.ID, exists(err))
	}
	return nil
}

// insertFamily stores a family and its first refresh token (rt may be nil)
// when tx commits; the caller maps a duplicate to ErrExists.
func insertFamily(tx database.Tx, f grantstore.Family, rt *grantstore.Refresh) error {
	if rt != nil {
		if err := codec.CheckRefresh(*rt, f.ID); err != nil {
			return err
		}
	}
	scopes, err := codec.List(f.Scopes)
	if err != nil {
		return err
	}
	resources, err := codec.List(f.Resources)
	if err != nil {
		return err
	}
	tx.Defer(`INSERT INTO grant_families (`+familyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		f.ID, f.ClientID, f.UserID, scopes, resources,
		f.AuthTime, f.CreatedAt, f.ExpiresAt, database.NullTime(f.RevokedAt), f.RevokeReason, f.SessionID, f.DPoPJKT)
	if rt == nil {
		return nil
	}
	return insertRefresh(tx, *rt)
}

// GetFamily implements grantstore.Store.
func (s *Store) GetFamily(ctx context.Context, id string) (grantstore.Family, error) {
	f, err := scanFamily(s.db.QueryRow(ctx, `SELECT `+familyColumns+` FROM grant_families WHERE id = $1`, id))
	if err != nil {
		return grantstore.Family{}, fmt.Errorf("grantstore: get family %q: %w", id, one(err))
	}
	return f, nil
}

// RevokeFamily implements grantstore.Store in one statement. The SET
// expressions read the row as it was, so a revoked family keeps its first
// time and reason.
func (s *Store) RevokeFamily(ctx context.Context, id, reason string, now time.Time) (grantstore.Family, error) {
	f, err := scanFamily(s.db.QueryRow(ctx, `
		UPDATE grant_families
		SET revoked_at = COALESCE(revoked_at, $1),
		    revoke_reason = CASE WHEN revoked_at IS NULL THEN $2 ELSE revoke_reason END
		WHERE id = $3
		RETURNING `+familyColumns, now, reason, id))
	if err != nil {
		return grantstore.Family{}, fmt.Errorf("grantstore: revoke family %q: %w", id, one(err))
	}
	return f, nil
}

// RevokeFamilies implements grantstore.Store in one statement, which
// locks the families in id order as the other bulk revocations do
// (revokeLive), so that overlapping ones wait for each other instead of
// deadlocking.
func (s *Store) RevokeFamilies(ctx context.Context, ids []string, reason string, now time.Time) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n, err := s.db.Exec(ctx, s.revokeFamiliesByID, now, reason, ids)
	if err != nil {
		return 0, fmt.Errorf("grantstore: revoke %d families: %w", len(ids), err)
	}
	return n, nil
}

// revokeLive is the bulk revocation of the live families of one owner
// (owner is the column, user_id, client_id or session_id: a constant, never
// input)
// issued at or before a time. On PostgreSQL the subquery locks the families
// in id order first (it sorts before it locks), so two overlapping bulk
// revocations (one by user, one by client) wait for each other instead of
// deadlocking; the UPDATE only writes rows the subquery already holds, and
// a family revoked meanwhile is re-checked and left alone. On SQLite the
// statement runs under the database's single write lock.
func revokeLive(d database.Dialect, owner string) string {
	return `
		UPDATE grant_families SET revoked_at = $1, revoke_reason = $2
		WHERE id IN (
			SELECT id FROM grant_families
			WHERE revoked_at IS NULL AND created_at <= $3 AND ` + owner + ` = $4` + d.LockInOrder("id") + `
		) AND revoked_at IS NULL
		RETURNING ` + familyColumns
}

// RevokeUserFamilies implements grantstore.Store.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID, reason string, before, now time.Time) ([]grantstore.Family, error) {
	fs, err := s.revokeFamilies(ctx, s.revokeUserFamilies, userID, reason, before, now)
	if err != nil {
		return nil, fmt.Errorf("grantstore: revoke families of user %q: %w", userID, err)
	}
	return fs, nil
}

// RevokeClientFamilies implements grantstore.Store.
func (s *Store) RevokeClientFamilies(ctx context.Context, clientID, reason string, before, now time.Time) ([]grantstore.Family, error) {
	fs, err := s.revokeFamilies(ctx, s.revokeClientFamilies, clientID, reason, before, now)
	if err != nil {
		return nil, fmt.Errorf("grantstore: revoke families of client %q: %w", clientID, err)
	}
	return fs, nil
}

// RevokeSessionFamilies implements grantstore.Store.
func (s *Store) RevokeSessionFamilies(ctx context.Context, sessionID, reason string, before, now time.Time) ([]grantstore.Family, error) {
	if sessionID == "" {
		// Grants from before sessions had an id share the empty one.
		return nil, errors.New("grantstore: revoke families of a session: the session id is empty")
	}
	fs, err := s.revokeFamilies(ctx, s.revokeSessionFamilies, sessionID, reason, before, now)
	if err != nil {
		return nil, fmt.Errorf("grantstore: revoke families of a session: %w", err)
	}
	return fs, nil
}

// revokeFamilies runs one of the bulk revocations: a single statement,
// atomic on its own.
func (s *Store) revokeFamilies(ctx context.Context, query, owner, reason string, before, now time.Time) ([]grantstore.Family, error) {
	rows, err := s.db.Query(ctx, query, now, reason, before, owner)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []grantstore.Family{}
	for rows.Next() {
		f, err := scanFamily(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	codec.SortFamilies(out)
	return out, nil
}

func scanFamily(row database.Row) (grantstore.Family, error) {
	var r familyRow
	if err := row.Scan(r.dest()...); err != nil {
		return grantstore.Family{}, err
	}
	return r.family()
}

// familyRow receives the familyColumns of a row.
type familyRow struct {
	f                 grantstore.Family
	scopes, resources string
}

func (r *familyRow) dest() []any {
	return []any{&r.f.ID, &r.f.ClientID, &r.f.UserID, &r.scopes, &r.resources,
		&r.f.AuthTime, &r.f.CreatedAt, &r.f.ExpiresAt, &r.f.RevokedAt, &r.f.RevokeReason, &r.f.SessionID, &r.f.DPoPJKT}
}

func (r *familyRow) family() (grantstore.Family, error) {
	f := r.f
	var err error
	if f.Scopes, err = codec.ParseList(r.scopes); err != nil {
		return grantstore.Family{}, err
	}
	if f.Resources, err = codec.ParseList(r.resources); err != nil {
		return grantstore.Family{}, err
	}
	return f, nil
}
