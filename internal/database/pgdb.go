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

// Tx implements DB at READ COMMITTED.
func (d *PostgresDB) Tx(ctx context.Context, fn func(Tx) error) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		return fn(pgTx{pgQuerier{q: tx}})
	})
}

// ReadTx implements DB at REPEATABLE READ, read only: every statement reads
// the snapshot the first one took.
func (d *PostgresDB) ReadTx(ctx context.Context, fn func(Querier) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	return pgx.BeginTxFunc(ctx, d.pool, opts, func(tx pgx.Tx) error {
		return fn(pgQuerier{q: tx})
	})
}

type pgTx struct{ pgQuerier }

// Lock implements Tx with a transaction-scoped advisory lock, which COMMIT
// or ROLLBACK releases, so a crashed process cannot leave it held. The key
// is computed by the server from name and the schema.
func (t pgTx) Lock(ctx context.Context, name string) error {
	_, err := t.q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1::text || current_schema(), 0))`, name)
	return err
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
