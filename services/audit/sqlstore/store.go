// Package sqlstore implements audit.Store once, for SQLite and PostgreSQL,
// over database.DB. New migrates the schema (migrations/<dialect>: the DDL
// differs in its column types only).
package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/audit"
)

//go:embed migrations
var migrations embed.FS

// Store is the SQL audit.Store.
type Store struct{ db database.DB }

var _ audit.Store = (*Store)(nil)

// New migrates the audit schema and returns the store.
func New(ctx context.Context, db database.DB) (*Store, error) {
	if err := migrate.Run(ctx, db, "audit", migrations, "migrations"); err != nil {
		return nil, fmt.Errorf("audit: %s: %w", db.Dialect(), err)
	}
	return &Store{db: db}, nil
}

const columns = `seq, at, actor_kind, actor_client_id, actor_key_id, actor_key_name, actor_cert_serial,
	action, outcome, reason, remote, request_id, service`

// Append implements audit.Store.
func (s *Store) Append(ctx context.Context, r audit.Record) (audit.Record, error) {
	r.At = database.Stored(r.At)
	err := s.db.Tx(ctx, func(tx database.Tx) error {
		if err := tx.QueryRow(ctx, `
			INSERT INTO admin_audit (at, actor_kind, actor_client_id, actor_key_id, actor_key_name, actor_cert_serial,
				action, outcome, reason, remote, request_id, service)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			RETURNING seq`,
			r.At, r.ActorKind, r.ActorClientID, r.ActorKeyID, r.ActorKeyName, r.ActorCertSerial,
			r.Action, r.Outcome, r.Reason, r.Remote, r.RequestID, r.Service).Scan(&r.Seq); err != nil {
			return err
		}
		return addTargets(ctx, tx, r.Seq, r.Targets)
	})
	if err != nil {
		return audit.Record{}, fmt.Errorf("audit: append: %w", err)
	}
	return r, nil
}

func addTargets(ctx context.Context, tx database.Tx, seq int64, targets []string) error {
	for _, t := range targets {
		field, value, _ := strings.Cut(t, "=")
		if _, err := tx.Exec(ctx, `
			INSERT INTO admin_audit_targets (seq, field, value) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, seq, field, value); err != nil {
			return fmt.Errorf("target: %w", err)
		}
	}
	return nil
}

// Finish implements audit.Store. Only a pending record changes, once: the
// trail keeps what it settled.
func (s *Store) Finish(ctx context.Context, seq int64, outcome, reason string, targets []string) error {
	err := s.db.Tx(ctx, func(tx database.Tx) error {
		n, err := tx.Exec(ctx, `UPDATE admin_audit SET outcome = $1, reason = $2 WHERE seq = $3 AND outcome = $4`,
			outcome, reason, seq, audit.OutcomePending)
		if err != nil {
			return err
		}
		if n == 0 {
			return audit.ErrNotFound
		}
		return addTargets(ctx, tx, seq, targets)
	})
	if err != nil {
		return fmt.Errorf("audit: finish %d: %w", seq, err)
	}
	return nil
}

// List implements audit.Store.
func (s *Store) List(ctx context.Context, f audit.Filter) ([]audit.Record, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Actor != "" {
		p := arg(f.Actor)
		where = append(where, `(a.actor_client_id = `+p+` OR a.actor_key_id = `+p+`)`)
	}
	if f.Target != "" {
		where = append(where, `EXISTS (SELECT 1 FROM admin_audit_targets t WHERE t.seq = a.seq AND t.value = `+arg(f.Target)+`)`)
	}
	if !f.Since.IsZero() {
		where = append(where, `a.at >= `+arg(f.Since))
	}
	if f.Before > 0 {
		where = append(where, `a.seq < `+arg(f.Before))
	}
	q := `SELECT ` + prefixed(columns) + ` FROM admin_audit a`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY a.seq DESC LIMIT ` + arg(f.Limit)
	var out []audit.Record
	err := s.db.ReadTx(ctx, func(qr database.Querier) error {
		rows, err := qr.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r audit.Record
			if err := rows.Scan(&r.Seq, &r.At, &r.ActorKind, &r.ActorClientID, &r.ActorKeyID, &r.ActorKeyName, &r.ActorCertSerial,
				&r.Action, &r.Outcome, &r.Reason, &r.Remote, &r.RequestID, &r.Service); err != nil {
				return err
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		for i := range out {
			if out[i].Targets, err = targets(ctx, qr, out[i].Seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return out, nil
}

func targets(ctx context.Context, q database.Querier, seq int64) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT field, value FROM admin_audit_targets WHERE seq = $1 ORDER BY field, value`, seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var f, v string
		if err := rows.Scan(&f, &v); err != nil {
			return nil, err
		}
		out = append(out, f+"="+v)
	}
	return out, rows.Err()
}

func prefixed(cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = "a." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// Purge implements audit.Store. The batch is bounded so that a first purge
// of a large trail does not hold the write lock for long.
func (s *Store) Purge(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	n, err := s.db.Exec(ctx, `
		DELETE FROM admin_audit WHERE seq IN (
			SELECT seq FROM admin_audit WHERE at < $1 ORDER BY seq LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("audit: purge: %w", err)
	}
	return n, nil
}
