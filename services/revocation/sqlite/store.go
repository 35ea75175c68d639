package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the SQLite revocation.Store.
type Store struct {
	db *sql.DB
}

var _ revocation.Store = (*Store)(nil)

// New migrates the revocation schema in db and returns the store.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.SQLite(ctx, db, "revocation", fsys); err != nil {
		return nil, fmt.Errorf("revocation: sqlite: %w", err)
	}
	return &Store{db: db}, nil
}

// querier is what *sql.DB, *sql.Tx and *sql.Conn offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const columns = `seq, kind, id, reason, revoked_at, expires_at`

// LogID implements revocation.Store.
func (s *Store) LogID(ctx context.Context) (string, error) {
	var id string
	if err := s.db.QueryRowContext(ctx, `SELECT log_id FROM revocation_head WHERE id = 1`).Scan(&id); err != nil {
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
	err := database.ImmediateTx(ctx, s.db, func(conn *sql.Conn) error {
		old, err := get(ctx, conn, e.Kind, e.ID)
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
		// The write lock is held since BEGIN IMMEDIATE, so this seq
		// commits before any later one.
		if err := conn.QueryRowContext(ctx,
			`UPDATE revocation_head SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&next.Seq); err != nil {
			return fmt.Errorf("next seq: %w", err)
		}
		if exists {
			_, err = conn.ExecContext(ctx, `
				UPDATE revocations
				SET seq = ?, reason = ?, revoked_at = ?, expires_at = ?, published = 0
				WHERE kind = ? AND id = ?`,
				next.Seq, next.Reason, database.Micros(next.RevokedAt), database.NullMicros(next.ExpiresAt), int32(next.Kind), next.ID)
		} else {
			_, err = conn.ExecContext(ctx, `
				INSERT INTO revocations (seq, kind, id, reason, revoked_at, expires_at)
				VALUES (?, ?, ?, ?, ?, ?)`,
				next.Seq, int32(next.Kind), next.ID, next.Reason, database.Micros(next.RevokedAt), database.NullMicros(next.ExpiresAt))
		}
		if err != nil {
			return fmt.Errorf("write entry: %w", err)
		}
		stored, created = normalize(next), true
		return nil
	})
	if err != nil {
		return revocation.Entry{}, false, fmt.Errorf("revocation: revoke %s %q: %w", e.Kind, e.ID, err)
	}
	return stored, created, nil
}

// Get implements revocation.Store.
func (s *Store) Get(ctx context.Context, kind revocationv1.Kind, id string) (revocation.Entry, error) {
	e, err := get(ctx, s.db, kind, id)
	if err != nil {
		return revocation.Entry{}, fmt.Errorf("revocation: get %s %q: %w", kind, id, err)
	}
	return e, nil
}

func get(ctx context.Context, q querier, kind revocationv1.Kind, id string) (revocation.Entry, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+columns+` FROM revocations WHERE kind = ? AND id = ?`, int32(kind), id)
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

// List implements revocation.Store. A read-only transaction is a plain
// (deferred) BEGIN whatever the DSN's _txlock says: its first SELECT fixes
// the WAL snapshot that the second one reads too, and it takes no write
// lock.
func (s *Store) List(ctx context.Context, since int64, limit int) ([]revocation.Entry, int64, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("revocation: list: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only: nothing to undo
	head, err := readHead(ctx, tx)
	if err != nil {
		return nil, 0, fmt.Errorf("revocation: list: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT `+columns+` FROM revocations
		WHERE seq > ? AND seq <= ?
		ORDER BY seq
		LIMIT ?`, since, head, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("revocation: list: %w", err)
	}
	es, err := scan(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("revocation: list: %w", err)
	}
	return es, head, nil
}

// Head implements revocation.Store.
func (s *Store) Head(ctx context.Context) (int64, error) {
	head, err := readHead(ctx, s.db)
	if err != nil {
		return 0, fmt.Errorf("revocation: head: %w", err)
	}
	return head, nil
}

func readHead(ctx context.Context, q querier) (int64, error) {
	var head int64
	err := q.QueryRowContext(ctx, `SELECT seq FROM revocation_head WHERE id = 1`).Scan(&head)
	return head, err
}

// Unpublished implements revocation.Store.
func (s *Store) Unpublished(ctx context.Context, limit int) ([]revocation.Entry, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+columns+` FROM revocations
		WHERE published = 0
		ORDER BY seq
		LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("revocation: unpublished: %w", err)
	}
	es, err := scan(rows)
	if err != nil {
		return nil, fmt.Errorf("revocation: unpublished: %w", err)
	}
	return es, nil
}

// MarkPublished implements revocation.Store. The numbers go in as one JSON
// array, so the statement stays the same whatever their count.
func (s *Store) MarkPublished(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	b, err := json.Marshal(seqs)
	if err != nil {
		return fmt.Errorf("revocation: mark published: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `
		UPDATE revocations SET published = 1
		WHERE published = 0 AND seq IN (SELECT value FROM json_each(?))`, string(b))
	if err != nil {
		return fmt.Errorf("revocation: mark published: %w", err)
	}
	return nil
}

// DeleteExpired implements revocation.Store.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx,
		`DELETE FROM revocations WHERE expires_at IS NOT NULL AND expires_at <= ?`, database.Micros(now))
	if err != nil {
		return 0, fmt.Errorf("revocation: delete expired: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("revocation: delete expired: %w", err)
	}
	return n, nil
}

// scan reads every row and closes rows; it never returns a nil slice.
func scan(rows *sql.Rows) ([]revocation.Entry, error) {
	defer rows.Close()
	out := []revocation.Entry{}
	for rows.Next() {
		var (
			e       revocation.Entry
			kind    int32
			revoked int64
			expires sql.NullInt64
		)
		if err := rows.Scan(&e.Seq, &kind, &e.ID, &e.Reason, &revoked, &expires); err != nil {
			return nil, err
		}
		e.Kind = revocationv1.Kind(kind)
		e.RevokedAt = database.FromMicros(revoked)
		e.ExpiresAt = database.FromNullMicros(expires)
		out = append(out, e)
	}
	return out, rows.Err()
}

// normalize is e as it reads back.
func normalize(e revocation.Entry) revocation.Entry {
	e.RevokedAt = database.FromMicros(database.Micros(e.RevokedAt))
	e.ExpiresAt = database.FromNullMicros(database.NullMicros(e.ExpiresAt))
	return e
}
