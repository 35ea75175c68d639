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

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/users"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the PostgreSQL users.Store.
type Store struct {
	pool *pgxpool.Pool
}

var _ users.Store = (*Store)(nil)

// New migrates the users schema and returns the store.
func New(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.Postgres(ctx, pool, "users", fsys); err != nil {
		return nil, fmt.Errorf("users: postgres: %w", err)
	}
	return &Store{pool: pool}, nil
}

// querier is what both the pool and a transaction offer.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const columns = `user_id, email, password_hash, disabled, created_at, updated_at`

func scanUser(row pgx.Row) (users.User, error) {
	var u users.User
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Disabled, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return users.User{}, err
	}
	// The driver returns time.Local; the store promises UTC.
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

// Create implements users.Store.
func (s *Store) Create(ctx context.Context, u users.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+columns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ID, u.Email, u.PasswordHash, u.Disabled, u.CreatedAt, u.UpdatedAt)
	if database.IsUniqueViolation(err) {
		err = users.ErrAlreadyExists
	}
	if err != nil {
		return fmt.Errorf("users: create user %q: %w", u.ID, err)
	}
	return nil
}

// get reads one user; lock adds FOR UPDATE.
func get(ctx context.Context, q querier, where string, arg any, lock bool) (users.User, error) {
	query := `SELECT ` + columns + ` FROM users WHERE ` + where + ` = $1`
	if lock {
		query += ` FOR UPDATE`
	}
	u, err := scanUser(q.QueryRow(ctx, query, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return users.User{}, users.ErrNotFound
	}
	return u, err
}

// Get implements users.Store.
func (s *Store) Get(ctx context.Context, id string) (users.User, error) {
	u, err := get(ctx, s.pool, "user_id", id, false)
	if err != nil {
		return users.User{}, fmt.Errorf("users: get user %q: %w", id, err)
	}
	return u, nil
}

// GetByEmail implements users.Store. The email is not in the error: it is
// personal data, and errors end up in logs.
func (s *Store) GetByEmail(ctx context.Context, email string) (users.User, error) {
	u, err := get(ctx, s.pool, "email", email, false)
	if err != nil {
		return users.User{}, fmt.Errorf("users: get user by email: %w", err)
	}
	return u, nil
}

// List implements users.Store.
func (s *Store) List(ctx context.Context, after *users.Cursor, limit int) ([]users.User, error) {
	if limit < 1 {
		return nil, fmt.Errorf("users: list users: limit %d, want at least 1", limit)
	}
	var (
		rows pgx.Rows
		err  error
	)
	if after == nil {
		rows, err = s.pool.Query(ctx, `
			SELECT `+columns+` FROM users
			ORDER BY created_at, user_id LIMIT $1`, limit)
	} else {
		rows, err = s.pool.Query(ctx, `
			SELECT `+columns+` FROM users
			WHERE (created_at, user_id) > ($1, $2)
			ORDER BY created_at, user_id LIMIT $3`, after.CreatedAt, after.ID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("users: list users: %w", err)
	}
	defer rows.Close()
	out := []users.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("users: list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users: list users: %w", err)
	}
	return out, nil
}

// Update implements users.Store.
func (s *Store) Update(ctx context.Context, id string, update func(*users.User) error) (users.User, error) {
	var (
		out       users.User
		updateErr error
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The row lock holds every other Update of this user until
		// COMMIT; the locking read returns the latest committed row.
		u, err := get(ctx, tx, "user_id", id, true)
		if err != nil {
			return err
		}
		created := u.CreatedAt
		if err := update(&u); err != nil {
			updateErr = err
			return err
		}
		if u.ID != id {
			return fmt.Errorf("the update changed the user ID to %q", u.ID)
		}
		if !u.CreatedAt.Equal(created) {
			return errors.New("the update changed CreatedAt")
		}
		_, err = tx.Exec(ctx, `
			UPDATE users SET email = $2, password_hash = $3, disabled = $4, updated_at = $5
			WHERE user_id = $1`,
			id, u.Email, u.PasswordHash, u.Disabled, u.UpdatedAt)
		if database.IsUniqueViolation(err) {
			return users.ErrAlreadyExists
		}
		if err != nil {
			return err
		}
		out = normalize(u)
		return nil
	})
	if updateErr != nil {
		return users.User{}, updateErr
	}
	if err != nil {
		return users.User{}, fmt.Errorf("users: update user %q: %w", id, err)
	}
	return out, nil
}

// normalize is u as timestamptz keeps it: UTC, to the microsecond (pgx
// truncates, as the SQLite store does).
func normalize(u users.User) users.User {
	u.CreatedAt = u.CreatedAt.UTC().Truncate(time.Microsecond)
	u.UpdatedAt = u.UpdatedAt.UTC().Truncate(time.Microsecond)
	return u
}
