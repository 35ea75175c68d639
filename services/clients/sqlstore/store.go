package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

//go:embed migrations
var migrations embed.FS

// Store is the SQL clients.Store.
type Store struct {
	db database.DB
	// The statements whose text depends on the dialect, built once: the
	// reads by id are on the hot path of every token request and API key.
	selectClient, selectAPIKey   string
	getClientSQL, getAPIKeySQL   string
	lockClientSQL, lockAPIKeySQL string
}

var _ clients.Store = (*Store)(nil)

// New migrates the clients schema and returns the store.
func New(ctx context.Context, db database.DB) (*Store, error) {
	if err := migrate.Run(ctx, db, "clients", migrations, "migrations"); err != nil {
		return nil, fmt.Errorf("clients: %s: %w", db.Dialect(), err)
	}
	d := db.Dialect()
	s := &Store{
		db:            db,
		selectClient:  `SELECT ` + clientColumns + `, ` + d.SortedList("cs.scope", "FROM client_scopes cs WHERE cs.client_id = c.client_id") + ` FROM clients c `,
		selectAPIKey:  `SELECT ` + apiKeyColumns + `, ` + d.SortedList("ks.scope", "FROM api_key_scopes ks WHERE ks.key_id = k.key_id") + ` FROM api_keys k `,
		lockClientSQL: `SELECT 1 FROM clients WHERE client_id = $1` + d.ForNoKeyUpdate(),
		lockAPIKeySQL: `SELECT 1 FROM api_keys WHERE key_id = $1` + d.ForNoKeyUpdate(),
	}
	s.getClientSQL = s.selectClient + `WHERE c.client_id = $1`
	s.getAPIKeySQL = s.selectAPIKey + `WHERE k.key_id = $1`
	return s, nil
}

// lockRow runs lockSQL, a SELECT of the row id ending in the dialect's row
// lock: it takes the lock that serialises the writers of one client or key
// and says whether the row exists. FOR NO KEY UPDATE, not FOR UPDATE: it
// still excludes other updaters but lets inserts of the client's secrets
// and keys (whose foreign-key checks take KEY SHARE) proceed.
func lockRow(ctx context.Context, tx database.Tx, lockSQL, id string) error {
	var one int
	err := tx.QueryRow(ctx, lockSQL, id).Scan(&one)
	if errors.Is(err, database.ErrNoRows) {
		return clients.ErrNotFound
	}
	return err
}

// readModifyWrite is UpdateClient and UpdateAPIKey: in one transaction it
// locks the row id, reads it, applies update and writes the result, which it
// reads back so that it equals what a later read returns (UTC,
// microseconds, sorted scopes). The read is a new statement after the
// lock: under READ COMMITTED it sees what the previous lock holder
// committed, its scope rows included, which a subquery of the locking
// statement would not. An error from update is returned unchanged; what
// names the row in other errors.
func readModifyWrite[T any](ctx context.Context, s *Store, lockSQL, id, what string,
	get func(context.Context, database.Querier, string) (T, error),
	update func(*T) error,
	write func(tx database.Tx, old, updated T) error,
) (T, error) {
	var (
		out, zero T
		updateErr error
	)
	err := s.db.Tx(ctx, func(tx database.Tx) error {
		if err := lockRow(ctx, tx, lockSQL, id); err != nil {
			return err
		}
		old, err := get(ctx, tx, id)
		if err != nil {
			return err
		}
		updated := old
		if err := update(&updated); err != nil {
			updateErr = err
			return err
		}
		if err := write(tx, old, updated); err != nil {
			return err
		}
		out, err = get(ctx, tx, id)
		return err
	})
	if updateErr != nil {
		return zero, updateErr
	}
	if err != nil {
		return zero, fmt.Errorf("clients: update %s: %w", what, err)
	}
	return out, nil
}

// notNilBytes keeps NOT NULL bytea columns from receiving NULL for a nil hash.
func notNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// sameOwner fills an empty owner and rejects a different one, so a secret or
// key cannot be attached to another client by mistake.
func sameOwner(what string, owner *string, want string) error {
	if *owner == "" {
		*owner = want
		return nil
	}
	if *owner != want {
		return fmt.Errorf("%s belongs to client %q, not %q", what, *owner, want)
	}
	return nil
}
