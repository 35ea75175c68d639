package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/internal/codec"
)

// deletions are DeleteExpired's statements, each taking the cut-off. The
// tokens go before their families, the order RotateRefresh locks them in;
// the cascade would delete them too, but would not count them. Families are
// locked in id order, as the bulk revocations lock them.
func deletions(d database.Dialect) []string {
	return []string{
		`DELETE FROM grant_codes WHERE expires_at <= $1`,
		`DELETE FROM grant_refresh_tokens WHERE family_id IN (SELECT id FROM grant_families WHERE expires_at <= $1)`,
		`DELETE FROM grant_families WHERE id IN (
			SELECT id FROM grant_families WHERE expires_at <= $1` + d.LockInOrder("id") + `)`,
		`DELETE FROM grant_sessions WHERE expires_at <= $1`,
		`DELETE FROM grant_pushed_requests WHERE expires_at <= $1`,
	}
}

// DeleteExpired implements grantstore.Store in one transaction.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	var total int64
	cutoff, err := codec.Cutoff(now, keep)
	if err == nil {
		err = s.db.Tx(ctx, func(tx database.Tx) error {
			for _, q := range s.deletions {
				n, err := tx.Exec(ctx, q, cutoff)
				if err != nil {
					return err
				}
				total += n
			}
			return nil
		})
	}
	if err != nil {
		return 0, fmt.Errorf("grantstore: delete expired: %w", err)
	}
	return total, nil
}
