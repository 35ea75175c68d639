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

const codeColumns = `hash, client_id, redirect_uri, challenge, user_id, scopes, resources,
	family_id, auth_time, created_at, expires_at, redeemed_at`

// CreateCode implements grantstore.Store.
func (s *Store) CreateCode(ctx context.Context, c grantstore.Code) error {
	if err := s.createCode(ctx, c); err != nil {
		return fmt.Errorf("grantstore: create code of client %q: %w", c.ClientID, err)
	}
	return nil
}

func (s *Store) createCode(ctx context.Context, c grantstore.Code) error {
	if err := codec.CheckHash("code", c.Hash); err != nil {
		return err
	}
	scopes, err := codec.List(c.Scopes)
	if err != nil {
		return err
	}
	resources, err := codec.List(c.Resources)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO grant_codes (`+codeColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.ClientID, c.RedirectURI, c.Challenge, c.UserID, scopes, resources,
		c.FamilyID, database.Micros(c.AuthTime), database.Micros(c.CreatedAt), database.Micros(c.ExpiresAt), database.NullMicros(c.RedeemedAt))
	return exists(err)
}

// RedeemCode implements grantstore.Store. The write lock is taken before
// the code is read, so a concurrent redemption waits and then reads it
// redeemed. A refusal returns from the transaction, which had nothing to
// write, with its sentinel.
func (s *Store) RedeemCode(ctx context.Context, hash []byte, now time.Time) (grantstore.Code, error) {
	var c grantstore.Code
	err := database.ImmediateTx(ctx, s.db, func(conn *sql.Conn) error {
		var err error
		if c, err = scanCode(conn.QueryRowContext(ctx,
			`SELECT `+codeColumns+` FROM grant_codes WHERE hash = ?`, hash)); err != nil {
			return one(err)
		}
		switch {
		case !c.RedeemedAt.IsZero():
			return grantstore.ErrCodeRedeemed
		case !c.ExpiresAt.After(now):
			return grantstore.ErrExpired
		}
		c.RedeemedAt = database.FromMicros(database.Micros(now))
		_, err = conn.ExecContext(ctx, `UPDATE grant_codes SET redeemed_at = ? WHERE hash = ?`, database.Micros(now), hash)
		return err
	})
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, grantstore.ErrCodeRedeemed):
		// A replay: the caller needs the code's family to revoke it.
		return c, fmt.Errorf("grantstore: redeem code of client %q: %w", c.ClientID, err)
	default:
		return grantstore.Code{}, fmt.Errorf("grantstore: redeem code: %w", err)
	}
}

func scanCode(row scanner) (grantstore.Code, error) {
	var r codeRow
	if err := row.Scan(r.dest()...); err != nil {
		return grantstore.Code{}, err
	}
	return r.code()
}

// codeRow receives the codeColumns of a row.
type codeRow struct {
	c                          grantstore.Code
	scopes, resources          string
	authTime, created, expires int64
	redeemed                   sql.NullInt64
}

func (r *codeRow) dest() []any {
	return []any{&r.c.Hash, &r.c.ClientID, &r.c.RedirectURI, &r.c.Challenge, &r.c.UserID, &r.scopes, &r.resources,
		&r.c.FamilyID, &r.authTime, &r.created, &r.expires, &r.redeemed}
}

func (r *codeRow) code() (grantstore.Code, error) {
	c := r.c
	var err error
	if c.Scopes, err = codec.ParseList(r.scopes); err != nil {
		return grantstore.Code{}, err
	}
	if c.Resources, err = codec.ParseList(r.resources); err != nil {
		return grantstore.Code{}, err
	}
	c.AuthTime, c.CreatedAt, c.ExpiresAt = database.FromMicros(r.authTime), database.FromMicros(r.created), database.FromMicros(r.expires)
	c.RedeemedAt = database.FromNullMicros(r.redeemed)
	return c, nil
}
