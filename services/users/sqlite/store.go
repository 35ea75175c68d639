package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/users"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the SQLite users.Store.
type Store struct {
	db *sql.DB
}

var _ users.Store = (*Store)(nil)

// New migrates the users schema in db and returns the store.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.SQLite(ctx, db, "users", fsys); err != nil {
		return nil, fmt.Errorf("users: sqlite: %w", err)
	}
	return &Store{db: db}, nil
}

// querier is what *sql.DB and *sql.Conn offer.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const columns = `user_id, email, password_hash, disabled, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (users.User, error) {
	var (
		u                users.User
		created, updated int64
	)
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Disabled, &created, &updated); err != nil {
		return users.User{}, err
	}
	u.CreatedAt, u.UpdatedAt = database.FromMicros(created), database.FromMicros(updated)
	return u, nil
}

// Create implements users.Store.
func (s *Store) Create(ctx context.Context, u users.User) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO users (`+columns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, u.Disabled, database.Micros(u.CreatedAt), database.Micros(u.UpdatedAt))
	if database.IsUniqueViolation(err) {
		err = users.ErrAlreadyExists
	}
	if err != nil {
		return fmt.Errorf("users: create user %q: %w", u.ID, err)
	}
	return nil
}

func get(ctx context.Context, q querier, where string, arg any) (users.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+columns+` FROM users WHERE `+where+` = ?`, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return users.User{}, users.ErrNotFound
	}
	return u, err
}

// Get implements users.Store.
func (s *Store) Get(ctx context.Context, id string) (users.User, error) {
	u, err := get(ctx, s.db, "user_id", id)
	if err != nil {
		return users.User{}, fmt.Errorf("users: get user %q: %w", id, err)
	}
	return u, nil
}

// GetByEmail implements users.Store. The email is not in the error: it is
// personal data, and errors end up in logs.
func (s *Store) GetByEmail(ctx context.Context, email string) (users.User, error) {
	u, err := get(ctx, s.db, "email", email)
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
		rows *sql.Rows
		err  error
	)
	if after == nil {
		rows, err = s.db.QueryContext(ctx, `
			SELECT `+columns+` FROM users
			ORDER BY created_at, user_id LIMIT ?`, limit)
	} else {
		rows, err = s.db.QueryContext(ctx, `
			SELECT `+columns+` FROM users
			WHERE (created_at, user_id) > (?, ?)
			ORDER BY created_at, user_id LIMIT ?`, database.Micros(after.CreatedAt), after.ID, limit)
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
	err := database.ImmediateTx(ctx, s.db, func(conn *sql.Conn) error {
		u, err := get(ctx, conn, "user_id", id)
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
		_, err = conn.ExecContext(ctx, `
			UPDATE users SET email = ?, password_hash = ?, disabled = ?, updated_at = ?
			WHERE user_id = ?`,
			u.Email, u.PasswordHash, u.Disabled, database.Micros(u.UpdatedAt), id)
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

// normalize is u as it reads back.
func normalize(u users.User) users.User {
	u.CreatedAt, u.UpdatedAt = database.FromMicros(database.Micros(u.CreatedAt)), database.FromMicros(database.Micros(u.UpdatedAt))
	return u
}
