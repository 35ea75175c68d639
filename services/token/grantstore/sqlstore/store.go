package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

//go:embed migrations
var migrations embed.FS

// Store is the SQL grantstore.Store.
type Store struct {
	db database.DB
	// The statements whose text depends on the dialect (their row locks),
	// built once.
	lockCode, lockRefresh, lockFamily         string
	revokeUserFamilies, revokeClientFamilies  string
	revokeSessionFamilies, revokeFamiliesByID string
	deletions                                 []string
}

var _ grantstore.Store = (*Store)(nil)

// New migrates the grants schema and returns the store.
func New(ctx context.Context, db database.DB) (*Store, error) {
	d := db.Dialect()
	if err := migrate.Run(ctx, db, "grants", migrations, "migrations"); err != nil {
		return nil, fmt.Errorf("grantstore: %s: %w", d, err)
	}
	return &Store{
		db:                    db,
		lockCode:              `SELECT ` + codeColumns + ` FROM grant_codes WHERE hash = $1` + d.ForUpdate(),
		lockRefresh:           `SELECT ` + refreshColumns + ` FROM grant_refresh_tokens WHERE hash = $1` + d.ForUpdate(),
		lockFamily:            `SELECT ` + familyColumns + ` FROM grant_families WHERE id = $1` + d.ForUpdate(),
		revokeUserFamilies:    revokeLive(d, "user_id"),
		revokeClientFamilies:  revokeLive(d, "client_id"),
		revokeSessionFamilies: revokeLive(d, "session_id"),
		revokeFamiliesByID: `
			UPDATE grant_families SET revoked_at = $1, revoke_reason = $2
			WHERE id IN (
				SELECT id FROM grant_families
				WHERE revoked_at IS NULL AND ` + d.In("id", "$3") + d.LockInOrder("id") + `
			) AND revoked_at IS NULL`,
		deletions: deletions(d),
	}, nil
}

// one maps a missing row to grantstore.ErrNotFound.
func one(err error) error {
	if errors.Is(err, database.ErrNoRows) {
		return grantstore.ErrNotFound
	}
	return err
}

// exists maps a primary-key violation to grantstore.ErrExists.
func exists(err error) error {
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w", grantstore.ErrExists, err)
	}
	return err
}
