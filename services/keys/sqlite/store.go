package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the SQLite keys.Store.
type Store struct {
	db *sql.DB
}

var _ keys.Store = (*Store)(nil)

// New migrates the keys schema in db and returns the store.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.SQLite(ctx, db, "keys", fsys); err != nil {
		return nil, fmt.Errorf("keys: sqlite: %w", err)
	}
	return &Store{db: db}, nil
}

// querier is what both *sql.DB and the *sql.Conn of a transaction offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// List implements keys.Store.
func (s *Store) List(ctx context.Context) ([]keys.Key, error) {
	ks, err := list(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	return ks, nil
}

func list(ctx context.Context, q querier) ([]keys.Key, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT kid, alg, state, public_jwk, private_key,
		       created_at, activate_at, retired_at, remove_at, version
		FROM signing_keys
		ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []keys.Key{}
	for rows.Next() {
		var (
			k                             keys.Key
			state, pub                    string
			created                       int64
			activate, retired, removeTime sql.NullInt64
		)
		if err := rows.Scan(&k.KID, &k.Alg, &state, &pub, &k.PrivateKey,
			&created, &activate, &retired, &removeTime, &k.Version); err != nil {
			return nil, err
		}
		k.State = keys.State(state)
		k.PublicJWK = []byte(pub)
		k.CreatedAt = database.FromMicros(created)
		k.ActivateAt = database.FromNullMicros(activate)
		k.RetiredAt = database.FromNullMicros(retired)
		k.RemoveAt = database.FromNullMicros(removeTime)
		out = append(out, k)
	}
	return out, rows.Err()
}

// Update implements keys.Store.
func (s *Store) Update(ctx context.Context, fn func([]keys.Key) (keys.Changes, error)) (int64, error) {
	var version int64
	err := database.ImmediateTx(ctx, s.db, func(conn *sql.Conn) error {
		current, err := list(ctx, conn)
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
					if err := update(ctx, conn, k, version); err != nil {
						return err
					}
				}
			}
			for _, k := range ch.Insert {
				if (k.State == keys.StateActive) == activeNow {
					if err := insert(ctx, conn, k, version); err != nil {
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

func insert(ctx context.Context, q querier, k keys.Key, version int64) error {
	_, err := q.ExecContext(ctx, `
		INSERT INTO signing_keys (kid, alg, state, public_jwk, private_key,
			created_at, activate_at, retired_at, remove_at, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.KID, k.Alg, string(k.State), string(k.PublicJWK), nullBytes(k.PrivateKey),
		database.Micros(k.CreatedAt), database.NullMicros(k.ActivateAt), database.NullMicros(k.RetiredAt), database.NullMicros(k.RemoveAt), version)
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("keys: insert %s (%s): %w", k.KID, k.State, keys.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("keys: insert %s: %w", k.KID, err)
	}
	return nil
}

func update(ctx context.Context, q querier, k keys.Key, version int64) error {
	res, err := q.ExecContext(ctx, `
		UPDATE signing_keys
		SET state = ?, private_key = ?, activate_at = ?, retired_at = ?, remove_at = ?, version = ?
		WHERE kid = ?`,
		string(k.State), nullBytes(k.PrivateKey),
		database.NullMicros(k.ActivateAt), database.NullMicros(k.RetiredAt), database.NullMicros(k.RemoveAt), version, k.KID)
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("keys: update %s (%s): %w", k.KID, k.State, keys.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("keys: update %s: %w", k.KID, err)
	}
	n, err := res.RowsAffected()
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
