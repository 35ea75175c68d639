package database

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresDB is a DB on a pgx pool: statements go to pgx directly, with its
// statement cache, and no database/sql layer in between.
type PostgresDB struct {
	pgQuerier
	pool *pgxpool.Pool
}

var _ DB = (*PostgresDB)(nil)

// NewPostgres returns the DB of a pool opened with OpenPostgres.
func NewPostgres(pool *pgxpool.Pool) *PostgresDB {
	return &PostgresDB{pgQuerier: pgQuerier{q: pool}, pool: pool}
}

// Pool is the pgx pool, for what is not a store's business (migrations).
func (d *PostgresDB) Pool() *pgxpool.Pool { return d.pool }

// Dialect implements DB.
func (d *PostgresDB) Dialect() Dialect { return PostgreSQL }

// Tx implements DB at READ COMMITTED. The transaction is begun by the
// batch that carries its first statement and ended by the one that carries
// its deferred statements, so that it costs no round trip of its own; the
// commit's fsync is what it must wait for. A connection left in a
// transaction (a rollback that failed) is destroyed by the pool on release.
func (d *PostgresDB) Tx(ctx context.Context, fn func(Tx) error) (err error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	t := &txConn{conn: conn.Conn()}
	defer func() {
		if p := recover(); p != nil {
			t.rollback(ctx)
			panic(p)
		}
	}()
	if err := fn(pgTx{pgQuerier{q: t}, t}); err != nil {
		t.rollback(ctx)
		return err
	}
	if err := t.commit(ctx); err != nil {
		t.rollback(ctx)
		return err
	}
	return nil
}

// ReadTx implements DB at REPEATABLE READ, read only: every statement reads
// the snapshot the first one took.
func (d *PostgresDB) ReadTx(ctx context.Context, fn func(Querier) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	return pgx.BeginTxFunc(ctx, d.pool, opts, func(tx pgx.Tx) error {
		return fn(pgQuerier{q: tx})
	})
}

type pgTx struct {
	pgQuerier
	c *txConn
}

// Lock implements Tx with a transaction-scoped advisory lock, which COMMIT
// or ROLLBACK releases, so a crashed process cannot leave it held. The key
// is computed by the server from name and the schema.
func (t pgTx) Lock(ctx context.Context, name string) error {
	_, err := t.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1::text || current_schema(), 0))`, name)
	return err
}

// Defer implements Tx.
func (t pgTx) Defer(query string, args ...any) {
	t.c.deferred = append(t.c.deferred, queued{query, pgArgs(args)})
}

// txConn is the connection of a transaction whose BEGIN has not been sent
// until begun.
type txConn struct {
	conn     *pgx.Conn
	begun    bool
	deferred []queued
}

// batch is a batch that begins the transaction if it has not begun.
func (t *txConn) batch() *pgx.Batch {
	b := &pgx.Batch{}
	if !t.begun {
		b.Queue("begin")
		t.begun = true
	}
	return b
}

// txConn is the pgxQuerier of the transaction's statements: the first one
// carries the BEGIN.

func (t *txConn) Exec(ctx context.Context, query string, args ...any) (pgconn.CommandTag, error) {
	if t.begun {
		return t.conn.Exec(ctx, query, args...)
	}
	b := t.batch()
	b.Queue(query, args...)
	br := t.conn.SendBatch(ctx, b)
	_, err := br.Exec() // the BEGIN
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *txConn) Query(ctx context.Context, query string, args ...any) (pgx.Rows, error) {
	if t.begun {
		return t.conn.Query(ctx, query, args...)
	}
	b := t.batch()
	b.Queue(query, args...)
	br := t.conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *txConn) QueryRow(ctx context.Context, query string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, query, args...)
	if err != nil {
		return errRow{err}
	}
	return rowOf{rows}
}

// commit sends the deferred statements and the COMMIT in one batch. A
// COMMIT of a transaction that had failed is answered ROLLBACK: an error.
func (t *txConn) commit(ctx context.Context) error {
	if !t.begun && len(t.deferred) == 0 {
		return nil // nothing was sent: there is no transaction
	}
	b := t.batch()
	for _, q := range t.deferred {
		b.Queue(q.query, q.args...)
	}
	b.Queue("commit")
	br := t.conn.SendBatch(ctx, b)
	var (
		tag pgconn.CommandTag
		err error
	)
	for range b.Len() {
		if tag, err = br.Exec(); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	return err
}

// rollback ends a transaction that failed, if the server has one open. An
// error leaves the connection in it, for the pool to destroy.
func (t *txConn) rollback(ctx context.Context) {
	if t.conn.IsClosed() || t.conn.PgConn().TxStatus() == 'I' {
		return
	}
	_, _ = t.conn.Exec(context.WithoutCancel(ctx), "rollback")
}

// batchRows are the rows of a query sent in a batch: closing them closes
// the batch.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	_ = r.br.Close()
}

// rowOf is the first row of rows, as pgx's QueryRow gives it: ErrNoRows
// when there is none, and the rows closed after the scan.
type rowOf struct{ rows pgx.Rows }

func (r rowOf) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// pgxQuerier is what a pool and a transaction offer.
type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type pgQuerier struct{ q pgxQuerier }

func (p pgQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, query, pgArgs(args)...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (p pgQuerier) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := p.q.Query(ctx, query, pgArgs(args)...)
	if err != nil {
		return nil, err
	}
	return pgRows{rows}, nil
}

func (p pgQuerier) QueryRow(ctx context.Context, query string, args ...any) Row {
	return pgRow{p.q.QueryRow(ctx, query, pgArgs(args)...)}
}

type pgRow struct{ row pgx.Row }

func (r pgRow) Scan(dest ...any) error { return pgScan(r.row.Scan, dest) }

type pgRows struct{ rows pgx.Rows }

func (r pgRows) Next() bool             { return r.rows.Next() }
func (r pgRows) Scan(dest ...any) error { return pgScan(r.rows.Scan, dest) }
func (r pgRows) Err() error             { return r.rows.Err() }
func (r pgRows) Close()                 { r.rows.Close() }

// pgArgs stores nil lists as empty arrays: the list columns are NOT NULL.
// Everything else pgx encodes as it is.
func pgArgs(args []any) []any {
	var out []any
	for i, a := range args {
		var v any
		switch a := a.(type) {
		case []string:
			if a != nil {
				continue
			}
			v = []string{}
		case []int64:
			if a != nil {
				continue
			}
			v = []int64{}
		default:
			continue
		}
		if out == nil {
			out = make([]any, len(args))
			copy(out, args)
		}
		out[i] = v
	}
	if out == nil {
		return args
	}
	return out
}

// pgScan scans into dest, reading time columns through pgTime and turning
// NULL or empty lists into empty slices. Without a time destination it
// allocates nothing.
func pgScan(scan func(...any) error, dest []any) error {
	actual, cloned := dest, false
	for i, d := range dest {
		if t, ok := d.(*time.Time); ok {
			if !cloned {
				actual, cloned = slices.Clone(dest), true // the caller's slice stays as it was
			}
			actual[i] = pgTime{t}
		}
	}
	if err := scan(actual...); err != nil {
		return err
	}
	for _, d := range dest {
		if l, ok := d.(*[]string); ok && *l == nil {
			*l = []string{}
		}
	}
	return nil
}

// pgTime receives a timestamptz: NULL as the zero time, and in UTC rather
// than pgx's time.Local. It is one pointer, so passing it as an any
// allocates nothing.
type pgTime struct{ t *time.Time }

func (p pgTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	*p.t = time.Time{}
	if v.Valid {
		*p.t = v.Time.UTC()
	}
	return nil
}
