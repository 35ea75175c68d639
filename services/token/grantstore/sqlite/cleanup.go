package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/internal/codec"
)

// deletions are DeleteExpired's statements, each taking the cut-off. The
// tokens go before their families: the cascade would delete them too, but
// would not count them.
var deletions = []string{
	`DELETE FROM grant_codes WHERE expires_at <= ?`,
	`DELETE FROM grant_refresh_tokens WHERE family_id IN (SELECT id FROM grant_families WHERE expires_at <= ?)`,
	`DELETE FROM grant_families WHERE expires_at <= ?`,
	`DELETE FROM grant_sessions WHERE expires_at <= ?`,
}

// DeleteExpired implements grantstore.Store in one transaction.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	var total int64
	cutoff, err := codec.Cutoff(now, keep)
	if err == nil {
		err = database.ImmediateTx(ctx, s.db, func(conn *sql.Conn) error {
			for _, q := range deletions {
				res, err := conn.ExecContext(ctx, q, database.Micros(cutoff))
				if err != nil {
					return err
				}
				n, err := res.RowsAffected()
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
