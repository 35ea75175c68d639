package sqlstore

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

// EnsureScopes implements clients.Store.
func (s *Store) EnsureScopes(ctx context.Context, scopes []clients.Scope) error {
	if len(scopes) == 0 {
		return nil
	}
	err := s.db.Tx(ctx, func(tx database.Tx) error {
		for _, sc := range scopes {
			_, err := tx.Exec(ctx, `
				INSERT INTO scopes (name, description, system, created_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (name) DO NOTHING`,
				sc.Name, sc.Description, sc.System, sc.CreatedAt)
			if err != nil {
				return fmt.Errorf("scope %q: %w", sc.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clients: ensure scopes: %w", err)
	}
	return nil
}

// CreateScope implements clients.Store.
func (s *Store) CreateScope(ctx context.Context, sc clients.Scope) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO scopes (name, description, system, created_at) VALUES ($1, $2, $3, $4)`,
		sc.Name, sc.Description, sc.System, sc.CreatedAt)
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("clients: create scope %q: %w", sc.Name, clients.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("clients: create scope %q: %w", sc.Name, err)
	}
	return nil
}

// ListScopes implements clients.Store.
func (s *Store) ListScopes(ctx context.Context) ([]clients.Scope, error) {
	rows, err := s.db.Query(ctx, `SELECT name, description, system, created_at FROM scopes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("clients: list scopes: %w", err)
	}
	defer rows.Close()
	out := []clients.Scope{}
	for rows.Next() {
		var sc clients.Scope
		if err := rows.Scan(&sc.Name, &sc.Description, &sc.System, &sc.CreatedAt); err != nil {
			return nil, fmt.Errorf("clients: list scopes: %w", err)
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clients: list scopes: %w", err)
	}
	return out, nil
}

// DeleteScope implements clients.Store. The foreign keys from client_scopes
// and api_key_scopes refuse the delete while the scope is granted, so there
// is no window between a check and the delete.
func (s *Store) DeleteScope(ctx context.Context, name string) error {
	n, err := s.db.Exec(ctx, `DELETE FROM scopes WHERE name = $1`, name)
	if database.IsForeignKeyViolation(err) {
		return fmt.Errorf("clients: delete scope %q: %w", name, clients.ErrInUse)
	}
	if err != nil {
		return fmt.Errorf("clients: delete scope %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("clients: delete scope %q: %w", name, clients.ErrNotFound)
	}
	return nil
}

// replaceScopes makes scopes the granted scopes of a client or a key: see
// grantScopes.
func replaceScopes(ctx context.Context, tx database.Tx, table, ownerCol, owner string, scopes []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE `+ownerCol+` = $1`, owner); err != nil {
		return err
	}
	return grantScopes(ctx, tx, table, ownerCol, owner, scopes)
}

// grantScopes inserts the join rows of a client (table client_scopes, owner
// column client_id) or a key (api_key_scopes, key_id). Rows go in one by one
// so that a missing scope can be named: SQLite does not say which foreign
// key failed.
func grantScopes(ctx context.Context, q database.Querier, table, ownerCol, owner string, scopes []string) error {
	stmt := `INSERT INTO ` + table + ` (` + ownerCol + `, scope) VALUES ($1, $2) ON CONFLICT DO NOTHING`
	for _, sc := range scopes {
		_, err := q.Exec(ctx, stmt, owner, sc)
		if database.IsForeignKeyViolation(err) {
			return fmt.Errorf("scope %q is not in the catalogue: %w", sc, clients.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("grant scope %q: %w", sc, err)
		}
	}
	return nil
}
