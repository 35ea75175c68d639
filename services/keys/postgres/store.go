package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the PostgreSQL keys.Store.
type Store struct {
	pool *pgxpool.Pool
}

var _ keys.Store = (*Store)(nil)

// New migrates the keys schema and returns the store.
func New(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.Postgres(ctx, pool, "keys", fsys); err != nil {
		return nil, fmt.Errorf("keys: postgres: %w", err)
	}
	return &Store{pool: pool}, nil
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// List implements keys.Store.
func (s *Store) List(ctx context.Context) ([]keys.Key, error) {
	ks, err := list(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	return ks, nil
}

func list(ctx context.Context, q querier) ([]keys.Key, error) {
	rows, err := q.Query(ctx, `
		SELECT kid, alg, state, public_jwk, private_key,
		       created_at, activate_at, retired_at, remove_at, version
		FROM signing_keys
		ORDER BY created_at DESC, kid COLLATE "C"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []keys.Key{}
	for rows.Next() {
		var (
			k                             keys.Key
			state, pub                    string
			created                       time.Time
			activate, retired, removeTime *time.Time
		)
		if err := rows.Scan(&k.KID, &k.Alg, &state, &pub, &k.PrivateKey,
			&created, &activate, &retired, &removeTime, &k.Version); err != nil {
			return nil, err
		}
		k.State = keys.State(state)
		k.PublicJWK = []byte(pub)
		k.CreatedAt = created.UTC()
		k.ActivateAt = fromNullTime(activate)
		k.RetiredAt = fromNullTime(retired)
		k.RemoveAt = fromNullTime(removeTime)
		out = append(out, k)
	}
	return out, rows.Err()
}

// lockSQL takes the lock every Update holds. Its key is a hash of the
// schema the table lives in, so stores in different schemas of one
// database (tests, or several deployments) do not serialise each other.
const lockSQL = `SELECT pg_advisory_xact_lock(hashtextextended('gatehouse.keys:' || current_schema(), 0))`

// Update implements keys.Store.
func (s *Store) Update(ctx context.Context, fn func([]keys.Key) (keys.Changes, error)) (int64, error) {
	var version int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockSQL); err != nil {
			return fmt.Errorf("keys: update: take lock: %w", err)
		}
		current, err := list(ctx, tx)
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

func insert(ctx context.Context, q querier, k keys.Key, version int64) error {
	_, err := q.Exec(ctx, `
		INSERT INTO signing_keys (kid, alg, state, public_jwk, private_key,
			created_at, activate_at, retired_at, remove_at, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		k.KID, k.Alg, string(k.State), string(k.PublicJWK), nullBytes(k.PrivateKey),
		k.CreatedAt, nullTime(k.ActivateAt), nullTime(k.RetiredAt), nullTime(k.RemoveAt), version)
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("keys: insert %s (%s): %w", k.KID, k.State, keys.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("keys: insert %s: %w", k.KID, err)
	}
	return nil
}

func update(ctx context.Context, q querier, k keys.Key, version int64) error {
	tag, err := q.Exec(ctx, `
		UPDATE signing_keys
		SET state = $1, private_key = $2, activate_at = $3, retired_at = $4, remove_at = $5, version = $6
		WHERE kid = $7`,
		string(k.State), nullBytes(k.PrivateKey),
		nullTime(k.ActivateAt), nullTime(k.RetiredAt), nullTime(k.RemoveAt), version, k.KID)
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("keys: update %s (%s): %w", k.KID, k.State, keys.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("keys: update %s: %w", k.KID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("keys: update %s: %w", k.KID, keys.ErrNotFound)
	}
	return nil
}

// nullBytes stores an empty private key as NULL, which the schema requires
// of a removed key and refuses for any other.
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Zero times (not yet activated, never retired) are NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
