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

// exchangeOne is ExchangeCode on PostgreSQL in one statement, for a code
// that matches the exchange (grantstore.CodeExchange.Matches): the UPDATE
// spends the code only if it is live and as expected, and the INSERTs of
// the family and its first refresh token read what it returned, so all
// commit together or not at all. The row lock on the code serialises
// concurrent exchanges: the one that waited re-checks the code as the
// first left it, redeemed, and updates nothing. No row means the code is
// unknown, spent, expired or not as expected, or a race; the locking path
// tells which.
//
// $1 now, $2 the code's hash, $3 the client, $4 the redirect URI, $5 the
// challenge, $6 the DPoP key's thumbprint, $7 the family's expiry, $8 its
// DPoP key, $9 the refresh token's hash (NULL: none), $10 its idle expiry.
const exchangeOne = `
	WITH c AS (
		UPDATE grant_codes SET redeemed_at = $1
		WHERE hash = $2 AND redeemed_at IS NULL AND expires_at > $1
		  AND client_id = $3 AND redirect_uri = $4 AND challenge = $5
		  AND (dpop_jkt = '' OR dpop_jkt = $6)
		RETURNING ` + codeColumns + `
	), f AS (
		INSERT INTO grant_families (` + familyColumns + `)
		SELECT family_id, client_id, user_id, scopes, resources, auth_time, $1, $7, NULL, '', session_id, $8
		FROM c
	), r AS (
		INSERT INTO grant_refresh_tokens (` + refreshColumns + `)
		SELECT $9, family_id, scopes, $1, $10, NULL
		FROM c WHERE $9::bytea IS NOT NULL
	)
	SELECT ` + codeColumns + ` FROM c`

// ExchangeCode implements grantstore.Store. On PostgreSQL an exchange of
// a code as expected is one statement (exchangeOne): one round trip and
// one commit. Any other, and SQLite, take the locking path: the code is
// locked before it is read (FOR UPDATE on PostgreSQL; on SQLite the
// transaction holds the write lock from BEGIN), so a concurrent redemption
// waits, then reads the code as this one left it: redeemed, with its grant
// stored. A refusal returns from the transaction, which had nothing to
// write, with its sentinel. The writes are deferred to the commit: the
// locking path is two round trips on PostgreSQL, the locking read (with
// the BEGIN) and the writes (with the COMMIT), and holds the code's lock
// no longer than that.
func (s *Store) ExchangeCode(ctx context.Context, hash []byte, now time.Time, x *grantstore.CodeExchange) (grantstore.Code, error) {
	if x != nil && s.db.Dialect() == database.PostgreSQL {
		c, err := s.exchangeOne(ctx, hash, now, x)
		switch {
		case err == nil:
			return c, nil
		case !errors.Is(err, database.ErrNoRows):
			return grantstore.Code{}, fmt.Errorf("grantstore: redeem code: %w", exists(err))
		}
	}
	return s.exchangeLocked(ctx, hash, now, x)
}

func (s *Store) exchangeOne(ctx context.Context, hash []byte, now time.Time, x *grantstore.CodeExchange) (grantstore.Code, error) {
	var (
		rtHash []byte
		idle   time.Time
	)
	if _, rt := x.Grant(grantstore.Code{}, now); rt != nil {
		if err := codec.CheckHash("refresh token", rt.Hash); err != nil {
			return grantstore.Code{}, err
		}
		rtHash, idle = rt.Hash, rt.IdleExpiresAt
	}
	var jkt string
	if x.BindFamily {
		jkt = x.DPoPJKT
	}
	return scanCode(s.db.QueryRow(ctx, exchangeOne, now, hash, x.ClientID, x.RedirectURI, x.Challenge, x.DPoPJKT,
		x.FamilyExpiresAt, jkt, rtHash, idle))
}

// exchangeLocked is ExchangeCode in a transaction that locks the code,
// reads it and decides with x.Check.
func (s *Store) exchangeLocked(ctx context.Context, hash []byte, now time.Time, x *grantstore.CodeExchange) (grantstore.Code, error) {
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
		if x == nil {
			return nil
		}
		if err := x.Check(c); err != nil {
			// Refused: the code stays spent, nothing else is written.
			grantErr = err
			return nil
		}
		f, rt := x.Grant(c, now)
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
