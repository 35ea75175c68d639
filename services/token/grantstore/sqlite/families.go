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

const familyColumns = `id, client_id, user_id, scopes, resources,
	auth_time, created_at, expires_at, revoked_at, revoke_reason`

// CreateFamily implements grantstore.Store. The family and its first token
// go in one transaction: a token never exists without its family.
func (s *Store) CreateFamily(ctx context.Context, f grantstore.Family, rt *grantstore.Refresh) error {
	err := func() error {
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
		return database.ImmediateTx(ctx, s.db, func(conn *sql.Conn) error {
			_, err := conn.ExecContext(ctx, `INSERT INTO grant_families (`+familyColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				f.ID, f.ClientID, f.UserID, scopes, resources,
				database.Micros(f.AuthTime), database.Micros(f.CreatedAt), database.Micros(f.ExpiresAt), database.NullMicros(f.RevokedAt), f.RevokeReason)
			if err != nil {
				return exists(err)
			}
			if rt == nil {
				return nil
			}
			return insertRefresh(ctx, conn, *rt)
		})
	}()
	if err != nil {
		return fmt.Errorf("grantstore: create family %q: %w", f.ID, err)
	}
	return nil
}

// GetFamily implements grantstore.Store.
func (s *Store) GetFamily(ctx context.Context, id string) (grantstore.Family, error) {
	f, err := getFamily(ctx, s.db, id)
	if err != nil {
		return grantstore.Family{}, fmt.Errorf("grantstore: get family %q: %w", id, err)
	}
	return f, nil
}

func getFamily(ctx context.Context, q querier, id string) (grantstore.Family, error) {
	f, err := scanFamily(q.QueryRowContext(ctx, `SELECT `+familyColumns+` FROM grant_families WHERE id = ?`, id))
	return f, one(err)
}

// RevokeFamily implements grantstore.Store in one statement. The SET
// expressions read the row as it was, so a revoked family keeps its first
// time and reason.
func (s *Store) RevokeFamily(ctx context.Context, id, reason string, now time.Time) (grantstore.Family, error) {
	f, err := scanFamily(s.db.QueryRowContext(ctx, `
		UPDATE grant_families
		SET revoked_at = COALESCE(revoked_at, ?),
		    revoke_reason = CASE WHEN revoked_at IS NULL THEN ? ELSE revoke_reason END
		WHERE id = ?
		RETURNING `+familyColumns, database.Micros(now), reason, id))
	if err != nil {
		return grantstore.Family{}, fmt.Errorf("grantstore: revoke family %q: %w", id, one(err))
	}
	return f, nil
}

// The bulk revocations differ only in the owner column; the queries are
// constants, never built from input.
const (
	revokeLive = `
		UPDATE grant_families SET revoked_at = ?, revoke_reason = ?
		WHERE revoked_at IS NULL AND created_at <= ? AND `
	revokeUserFamilies   = revokeLive + `user_id = ? RETURNING ` + familyColumns
	revokeClientFamilies = revokeLive + `client_id = ? RETURNING ` + familyColumns
)

// RevokeUserFamilies implements grantstore.Store.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID, reason string, before, now time.Time) ([]grantstore.Family, error) {
	fs, err := s.revokeFamilies(ctx, revokeUserFamilies, userID, reason, before, now)
	if err != nil {
		return nil, fmt.Errorf("grantstore: revoke families of user %q: %w", userID, err)
	}
	return fs, nil
}

// RevokeClientFamilies implements grantstore.Store.
func (s *Store) RevokeClientFamilies(ctx context.Context, clientID, reason string, before, now time.Time) ([]grantstore.Family, error) {
	fs, err := s.revokeFamilies(ctx, revokeClientFamilies, clientID, reason, before, now)
	if err != nil {
		return nil, fmt.Errorf("grantstore: revoke families of client %q: %w", clientID, err)
	}
	return fs, nil
}

// revokeFamilies runs one of the bulk revocations: a single UPDATE, atomic
// on its own.
func (s *Store) revokeFamilies(ctx context.Context, query, owner, reason string, before, now time.Time) ([]grantstore.Family, error) {
	rows, err := s.db.QueryContext(ctx, query, database.Micros(now), reason, database.Micros(before), owner)
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

func scanFamily(row scanner) (grantstore.Family, error) {
	var r familyRow
	if err := row.Scan(r.dest()...); err != nil {
		return grantstore.Family{}, err
	}
	return r.family()
}

// familyRow receives the familyColumns of a row.
type familyRow struct {
	f                          grantstore.Family
	scopes, resources          string
	authTime, created, expires int64
	revoked                    sql.NullInt64
}

func (r *familyRow) dest() []any {
	return []any{&r.f.ID, &r.f.ClientID, &r.f.UserID, &r.scopes, &r.resources,
		&r.authTime, &r.created, &r.expires, &r.revoked, &r.f.RevokeReason}
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
	f.AuthTime, f.CreatedAt, f.ExpiresAt = database.FromMicros(r.authTime), database.FromMicros(r.created), database.FromMicros(r.expires)
	f.RevokedAt = database.FromNullMicros(r.revoked)
	return f, nil
}
