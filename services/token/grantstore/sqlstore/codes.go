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

const codeColumns = `hash, client_id, redirect_uri, challenge, user_id, scopes, resources,
	family_id, auth_time, created_at, expires_at, redeemed_at, nonce, session_id, dpop_jkt`

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
	_, err = s.db.Exec(ctx, `INSERT INTO grant_codes (`+codeColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		c.Hash, c.ClientID, c.RedirectURI, c.Challenge, c.UserID, scopes, resources,
		c.FamilyID, c.AuthTime, c.CreatedAt, c.ExpiresAt, database.NullTime(c.RedeemedAt), c.Nonce, c.SessionID, c.DPoPJKT)
	return exists(err)
}

// RedeemCode implements grantstore.Store.
func (s *Store) RedeemCode(ctx context.Context, hash []byte, now time.Time) (grantstore.Code, error) {
	return s.ExchangeCode(ctx, hash, now, nil)
}

// ExchangeCode implements grantstore.Store. The code is locked before it is
// read (FOR UPDATE on PostgreSQL; on SQLite the transaction holds the write
// lock from BEGIN), so a concurrent redemption waits, then reads the code as
// this one left it: redeemed, with its grant stored. A refusal returns from
// the transaction, which had nothing to write, with its sentinel. The
// writes are deferred to the commit: on PostgreSQL the exchange is two
// round trips, the locking read (with the BEGIN) and the writes (with the
// COMMIT), and holds the code's lock no longer than that.
func (s *Store) ExchangeCode(ctx context.Context, hash []byte, now time.Time, grant func(grantstore.Code) (grantstore.Family, *grantstore.Refresh, error)) (grantstore.Code, error) {
	var (
		c        grantstore.Code
		grantErr error
	)
	err := s.db.Tx(ctx, func(tx database.Tx) error {
		var err error
		if c, err = scanCode(tx.QueryRow(ctx, s.lockCode, hash)); err != nil {
			return one(err)
		}
		switch {
		case !c.RedeemedAt.IsZero():
			return grantstore.ErrCodeRedeemed
		case !c.ExpiresAt.After(now):
			return grantstore.ErrExpired
		}
		c.RedeemedAt = database.Stored(now)
		tx.Defer(`UPDATE grant_codes SET redeemed_at = $1 WHERE hash = $2`, now, hash)
		if grant == nil {
			return nil
		}
		f, rt, err := grant(c)
		if err != nil {
			// Refused: the code stays spent, nothing else is written.
			grantErr = err
			return nil
		}
		return insertFamily(tx, f, rt)
	})
	switch {
	case err == nil && grantErr != nil:
		return c, grantErr
	case err == nil:
		return c, nil
	case errors.Is(err, grantstore.ErrCodeRedeemed):
		// A replay: the caller needs the code's family to revoke it.
		return c, fmt.Errorf("grantstore: redeem code of client %q: %w", c.ClientID, err)
	default:
		return grantstore.Code{}, fmt.Errorf("grantstore: redeem code: %w", exists(err))
	}
}

func scanCode(row database.Row) (grantstore.Code, error) {
	var (
		c                 grantstore.Code
		scopes, resources string
	)
	err := row.Scan(&c.Hash, &c.ClientID, &c.RedirectURI, &c.Challenge, &c.UserID, &scopes, &resources,
		&c.FamilyID, &c.AuthTime, &c.CreatedAt, &c.ExpiresAt, &c.RedeemedAt, &c.Nonce, &c.SessionID, &c.DPoPJKT)
	if err != nil {
		return grantstore.Code{}, err
	}
	if c.Scopes, err = codec.ParseList(scopes); err != nil {
		return grantstore.Code{}, err
	}
	if c.Resources, err = codec.ParseList(resources); err != nil {
		return grantstore.Code{}, err
	}
	return c, nil
}
