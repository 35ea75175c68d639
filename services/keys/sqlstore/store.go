package sqlstore

import (
	"context"
	"embed"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

//go:embed migrations
var migrations embed.FS

// Store is the SQL keys.Store and keys.CAStore.
type Store struct {
	db database.DB
	// The statements whose text depends on the dialect, built once.
	listSQL, listCertsSQL string
}

var (
	_ keys.Store   = (*Store)(nil)
	_ keys.CAStore = (*Store)(nil)
)

// New migrates the keys schema and returns the store.
func New(ctx context.Context, db database.DB) (*Store, error) {
	d := db.Dialect()
	if err := migrate.Run(ctx, db, "keys", migrations, "migrations"); err != nil {
		return nil, fmt.Errorf("keys: %s: %w", d, err)
	}
	return &Store{
		db: db,
		listSQL: `
			SELECT kid, alg, state, public_jwk, private_key,
			       created_at, activate_at, retired_at, remove_at, version
			FROM signing_keys
			ORDER BY created_at DESC, ` + d.Bytewise("kid"),
		listCertsSQL: `
			SELECT serial, client_id, thumbprint, not_before, not_after, der
			FROM client_certificates
			WHERE client_id = $1
			ORDER BY not_before DESC, ` + d.Bytewise("serial"),
	}, nil
}

// List implements keys.Store.
func (s *Store) List(ctx context.Context) ([]keys.Key, error) {
	ks, err := s.list(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	return ks, nil
}

func (s *Store) list(ctx context.Context, q database.Querier) ([]keys.Key, error) {
	rows, err := q.Query(ctx, s.listSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []keys.Key{}
	for rows.Next() {
		var (
			k          keys.Key
			state, pub string
		)
		if err := rows.Scan(&k.KID, &k.Alg, &state, &pub, &k.PrivateKey,
			&k.CreatedAt, &k.ActivateAt, &k.RetiredAt, &k.RemoveAt, &k.Version); err != nil {
			return nil, err
		}
		k.State = keys.State(state)
		k.PublicJWK = []byte(pub)
		out = append(out, k)
	}
	return out, rows.Err()
}

// Update implements keys.Store.
func (s *Store) Update(ctx context.Context, fn func([]keys.Key) (keys.Changes, error)) (int64, error) {
	var version int64
	err := s.db.Tx(ctx, func(tx database.Tx) error {
		// The lock every Update holds; see the package documentation.
		if err := tx.Lock(ctx, "gatehouse.keys:"); err != nil {
			return fmt.Errorf("keys: update: take lock: %w", err)
		}
		current, err := s.list(ctx, tx)
		if err != nil {
			return fmt.Errorf("keys: update: %w", err)
		}
		for _, k := range current {
			version = max(version, k.Version)
		}
		ch, err := fn(current)
		if err != nil {
			return err
		}
		if ch.Empty() {
			return nil
		}
		version++
		// Everything else first, the key becoming active last: the
		// unique index allows one active key at every statement.
		for _, activeNow := range []bool{false, true} {
			for _, k := range ch.Update {
				if (k.State == keys.StateActive) == activeNow {
					if err := update(ctx, tx, k, version); err != nil {
						return err
					}
				}
			}
			for _, k := range ch.Insert {
				if (k.State == keys.StateActive) == activeNow {
					if err := insert(ctx, tx, k, version); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

func insert(ctx context.Context, q database.Querier, k keys.Key, version int64) error {
	_, err := q.Exec(ctx, `
		INSERT INTO signing_keys (kid, alg, state, public_jwk, private_key,
			created_at, activate_at, retired_at, remove_at, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		k.KID, k.Alg, string(k.State), string(k.PublicJWK), nullBytes(k.PrivateKey),
		k.CreatedAt, database.NullTime(k.ActivateAt), database.NullTime(k.RetiredAt), database.NullTime(k.RemoveAt), version)
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("keys: insert %s (%s): %w", k.KID, k.State, keys.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("keys: insert %s: %w", k.KID, err)
	}
	return nil
}

func update(ctx context.Context, q database.Querier, k keys.Key, version int64) error {
	n, err := q.Exec(ctx, `
		UPDATE signing_keys
		SET state = $1, private_key = $2, activate_at = $3, retired_at = $4, remove_at = $5, version = $6
		WHERE kid = $7`,
		string(k.State), nullBytes(k.PrivateKey),
		database.NullTime(k.ActivateAt), database.NullTime(k.RetiredAt), database.NullTime(k.RemoveAt), version, k.KID)
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("keys: update %s (%s): %w", k.KID, k.State, keys.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("keys: update %s: %w", k.KID, err)
	}
	if n == 0 {
		return fmt.Errorf("keys: update %s: %w", k.KID, keys.ErrNotFound)
	}
	return nil
}

// nullBytes stores an empty private key as NULL, which the schema requires
// of a removed key and refuses for any other.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
