package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
)

//go:embed migrations
var migrations embed.FS

// Store is the SQL revocation.Store.
type Store struct {
	db database.DB
	// The statements whose text depends on the dialect, built once.
	lockHead, unpublished, markPublished string
}

var _ revocation.Store = (*Store)(nil)

// New migrates the revocation schema and returns the store.
func New(ctx context.Context, db database.DB) (*Store, error) {
	if err := migrate.Run(ctx, db, "revocation", migrations, "migrations"); err != nil {
		return nil, fmt.Errorf("revocation: %s: %w", db.Dialect(), err)
	}
	d := db.Dialect()
	// Spelled as the partial index revocations_unpublished is, so that the
	// outbox poller uses it on both.
	notPublished := d.IsFalse("published")
	return &Store{
		db:       db,
		lockHead: `SELECT seq FROM revocation_head WHERE id = 1` + d.ForUpdate(),
		unpublished: `SELECT ` + columns + ` FROM revocations
			WHERE ` + notPublished + `
			ORDER BY seq
			LIMIT $1`,
		markPublished: `UPDATE revocations SET published = true WHERE ` + notPublished + ` AND ` + d.In("seq", "$1"),
	}, nil
}

const columns = `seq, kind, id, reason, revoked_at, expires_at`

// LogID implements revocation.Store.
func (s *Store) LogID(ctx context.Context) (string, error) {
	var id string
	if err := s.db.QueryRow(ctx, `SELECT log_id FROM revocation_head WHERE id = 1`).Scan(&id); err != nil {
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
	err := s.db.Tx(ctx, func(tx database.Tx) error {
		// Every writer queues here first, so the read below sees what the
		// previous one committed (READ COMMITTED takes a new snapshot per
		// statement) and two Revokes of one new (kind, id) cannot both
		// insert. On SQLite the transaction has held the only write lock
		// since BEGIN IMMEDIATE, and the statement takes no lock.
		var head int64
		if err := tx.QueryRow(ctx, s.lockHead).Scan(&head); err != nil {
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
		// With the head row (on SQLite the whole database) locked, this
		// seq commits before any later one.
		if err := tx.QueryRow(ctx,
			`UPDATE revocation_head SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&next.Seq); err != nil {
			return fmt.Errorf("next seq: %w", err)
		}
		next.RevokedAt, next.ExpiresAt = database.Stored(next.RevokedAt), database.Stored(next.ExpiresAt)
		if exists {
			_, err = tx.Exec(ctx, `
				UPDATE revocations
				SET seq = $1, reason = $2, revoked_at = $3, expires_at = $4, published = false
				WHERE kind = $5 AND id = $6`,
				next.Seq, next.Reason, next.RevokedAt, database.NullTime(next.ExpiresAt), int32(next.Kind), next.ID)
		} else {
			_, err = tx.Exec(ctx, `
				INSERT INTO revocations (seq, kind, id, reason, revoked_at, expires_at)
				VALUES ($1, $2, $3, $4, $5, $6)`,
				next.Seq, int32(next.Kind), next.ID, next.Reason, next.RevokedAt, database.NullTime(next.ExpiresAt))
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
	e, err := get(ctx, s.db, kind, id)
	if err != nil {
		return revocation.Entry{}, fmt.Errorf("revocation: get %s %q: %w", kind, id, err)
	}
	return e, nil
}

func get(ctx context.Context, q database.Querier, kind revocationv1.Kind, id string) (revocation.Entry, error) {
	e, err := scanEntry(q.QueryRow(ctx, `SELECT `+columns+` FROM revocations WHERE kind = $1 AND id = $2`, int32(kind), id))
	if errors.Is(err, database.ErrNoRows) {
		return revocation.Entry{}, revocation.ErrNotFound
	}
	return e, err
}

// List implements revocation.Store. Both statements read one snapshot: the
// head it shows was committed together with its entry, after every smaller
// seq, so all of them are in the snapshot too.
func (s *Store) List(ctx context.Context, since int64, limit int) ([]revocation.Entry, int64, error) {
	var (
		es   []revocation.Entry
		head int64
	)
	err := s.db.ReadTx(ctx, func(q database.Querier) error {
		var err error
		if head, err = readHead(ctx, q); err != nil {
			return err
		}
		es, err = scan(q.Query(ctx, `
			SELECT `+columns+` FROM revocations
			WHERE seq > $1 AND seq <= $2
			ORDER BY seq
			LIMIT $3`, since, head, limit))
		return err
	})
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

func readHead(ctx context.Context, q database.Querier) (int64, error) {
	var head int64
	err := q.QueryRow(ctx, `SELECT seq FROM revocation_head WHERE id = 1`).Scan(&head)
	return head, err
}

// Unpublished implements revocation.Store.
func (s *Store) Unpublished(ctx context.Context, limit int) ([]revocation.Entry, error) {
	es, err := scan(s.db.Query(ctx, s.unpublished, limit))
	if err != nil {
		return nil, fmt.Errorf("revocation: unpublished: %w", err)
	}
	return es, nil
}

// MarkPublished implements revocation.Store. The numbers go in as one
// parameter, so the statement stays the same whatever their count.
func (s *Store) MarkPublished(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	if _, err := s.db.Exec(ctx, s.markPublished, seqs); err != nil {
		return fmt.Errorf("revocation: mark published: %w", err)
	}
	return nil
}

// DeleteExpired implements revocation.Store.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.db.Exec(ctx, `DELETE FROM revocations WHERE expires_at IS NOT NULL AND expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("revocation: delete expired: %w", err)
	}
	return n, nil
}

func scanEntry(row database.Row) (revocation.Entry, error) {
	var (
		e    revocation.Entry
		kind int32
	)
	if err := row.Scan(&e.Seq, &kind, &e.ID, &e.Reason, &e.RevokedAt, &e.ExpiresAt); err != nil {
		return revocation.Entry{}, err
	}
	e.Kind = revocationv1.Kind(kind)
	return e, nil
}

// scan reads every row of a query and closes them; it never returns a nil
// slice.
func scan(rows database.Rows, err error) ([]revocation.Entry, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []revocation.Entry{}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
