package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the PostgreSQL revocation.Store.
type Store struct {
	pool *pgxpool.Pool
}

var _ revocation.Store = (*Store)(nil)

// New migrates the revocation schema and returns the store.
func New(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.Postgres(ctx, pool, "revocation", fsys); err != nil {
		return nil, fmt.Errorf("revocation: postgres: %w", err)
	}
	return &Store{pool: pool}, nil
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const columns = `seq, kind, id, reason, revoked_at, expires_at`

// LogID implements revocation.Store.
func (s *Store) LogID(ctx context.Context) (string, error) {
	var id string
	if err := s.pool.QueryRow(ctx, `SELECT log_id FROM revocation_head WHERE id = 1`).Scan(&id); err != nil {
		return "", fmt.Errorf("revocation: read log id: %w", err)
	}
	return id, nil
}

// Revoke implements revocation.Store.
func (s *Store) Revoke(ctx context.Context, e revocation.Entry) (revocation.Entry, bool, error) {
	var (
		stored  revocation.Entry
		created bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Every writer queues here first, so the read below sees what
		// the previous one committed (READ COMMITTED takes a new snapshot
		// per statement) and two Revokes of one new (kind, id) cannot
		// both insert.
		if _, err := tx.Exec(ctx, `SELECT seq FROM revocation_head WHERE id = 1 FOR UPDATE`); err != nil {
			return fmt.Errorf("lock head: %w", err)
		}
		old, err := get(ctx, tx, e.Kind, e.ID)
		exists := err == nil
		if err != nil && !errors.Is(err, revocation.ErrNotFound) {
			return err
		}
		if exists && !revocation.IsCutOff(e.Kind) {
			stored = old
			return nil
		}
		next := e
		if exists {
			next = revocation.Replacement(old, e)
		}
		if err := tx.QueryRow(ctx,
			`UPDATE revocation_head SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&next.Seq); err != nil {
			return fmt.Errorf("next seq: %w", err)
		}
		next = normalize(next)
		if exists {
			_, err = tx.Exec(ctx, `
				UPDATE revocations
				SET seq = $1, reason = $2, revoked_at = $3, expires_at = $4, published = false
				WHERE kind = $5 AND id = $6`,
				next.Seq, next.Reason, next.RevokedAt, nullTime(next.ExpiresAt), int32(next.Kind), next.ID)
		} else {
			_, err = tx.Exec(ctx, `
				INSERT INTO revocations (seq, kind, id, reason, revoked_at, expires_at)
				VALUES ($1, $2, $3, $4, $5, $6)`,
				next.Seq, int32(next.Kind), next.ID, next.Reason, next.RevokedAt, nullTime(next.ExpiresAt))
		}
		if err != nil {
			return fmt.Errorf("write entry: %w", err)
		}
		stored, created = next, true
		return nil
	})
	if err != nil {
		return revocation.Entry{}, false, fmt.Errorf("revocation: revoke %s %q: %w", e.Kind, e.ID, err)
	}
	return stored, created, nil
}

// Get implements revocation.Store.
func (s *Store) Get(ctx context.Context, kind revocationv1.Kind, id string) (revocation.Entry, error) {
	e, err := get(ctx, s.pool, kind, id)
	if err != nil {
		return revocation.Entry{}, fmt.Errorf("revocation: get %s %q: %w", kind, id, err)
	}
	return e, nil
}

func get(ctx context.Context, q querier, kind revocationv1.Kind, id string) (revocation.Entry, error) {
	rows, err := q.Query(ctx, `SELECT `+columns+` FROM revocations WHERE kind = $1 AND id = $2`, int32(kind), id)
	if err != nil {
		return revocation.Entry{}, err
	}
	es, err := scan(rows)
	if err != nil {
		return revocation.Entry{}, err
	}
	if len(es) == 0 {
		return revocation.Entry{}, revocation.ErrNotFound
	}
	return es[0], nil
}

// List implements revocation.Store. REPEATABLE READ gives both statements
// one snapshot: the head it shows was committed together with its entry,
// after every smaller seq, so all of them are in the snapshot too.
func (s *Store) List(ctx context.Context, since int64, limit int) ([]revocation.Entry, int64, error) {
	var (
		es   []revocation.Entry
		head int64
	)
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err := pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
		var err error
		if head, err = readHead(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT `+columns+` FROM revocations
			WHERE seq > $1 AND seq <= $2
			ORDER BY seq
			LIMIT $3`, since, head, limit)
		if err != nil {
			return err
		}
		es, err = scan(rows)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("revocation: list: %w", err)
	}
	return es, head, nil
}

// Head implements revocation.Store.
func (s *Store) Head(ctx context.Context) (int64, error) {
	head, err := readHead(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("revocation: head: %w", err)
	}
	return head, nil
}

func readHead(ctx context.Context, q querier) (int64, error) {
	var head int64
	err := q.QueryRow(ctx, `SELECT seq FROM revocation_head WHERE id = 1`).Scan(&head)
	return head, err
}

// Unpublished implements revocation.Store.
func (s *Store) Unpublished(ctx context.Context, limit int) ([]revocation.Entry, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+columns+` FROM revocations
		WHERE NOT published
		ORDER BY seq
		LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("revocation: unpublished: %w", err)
	}
	es, err := scan(rows)
	if err != nil {
		return nil, fmt.Errorf("revocation: unpublished: %w", err)
	}
	return es, nil
}

// MarkPublished implements revocation.Store.
func (s *Store) MarkPublished(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx,
		`UPDATE revocations SET published = true WHERE NOT published AND seq = ANY($1)`, seqs)
	if err != nil {
		return fmt.Errorf("revocation: mark published: %w", err)
	}
	return nil
}

// DeleteExpired implements revocation.Store.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx,
		`DELETE FROM revocations WHERE expires_at IS NOT NULL AND expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("revocation: delete expired: %w", err)
	}
	return tag.RowsAffected(), nil
}

// scan reads every row and closes rows; it never returns a nil slice.
func scan(rows pgx.Rows) ([]revocation.Entry, error) {
	defer rows.Close()
	out := []revocation.Entry{}
	for rows.Next() {
		var (
			e       revocation.Entry
			kind    int32
			expires *time.Time
		)
		if err := rows.Scan(&e.Seq, &kind, &e.ID, &e.Reason, &e.RevokedAt, &expires); err != nil {
			return nil, err
		}
		e.Kind = revocationv1.Kind(kind)
		e.RevokedAt = e.RevokedAt.UTC()
		if expires != nil {
			e.ExpiresAt = expires.UTC()
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// normalize is e as timestamptz keeps it: UTC, to the microsecond (pgx
// truncates, as the SQLite store does).
func normalize(e revocation.Entry) revocation.Entry {
	e.RevokedAt = e.RevokedAt.UTC().Truncate(time.Microsecond)
	if !e.ExpiresAt.IsZero() {
		e.ExpiresAt = e.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	return e
}

// A zero ExpiresAt (never) is NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
