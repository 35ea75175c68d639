package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/migrate"
	"github.com/gatehouse-dev/gatehouse/services/users"
)

//go:embed migrations
var migrations embed.FS

// Store is the SQL users.Store.
type Store struct {
	db database.DB
	// lockUserSQL is Update's locking read, whose text depends on the
	// dialect, built once.
	lockUserSQL string
}

var _ users.Store = (*Store)(nil)

const (
	columns = `user_id, email, password_hash, disabled, created_at, updated_at,
		name, given_name, family_name, preferred_username, locale, email_verified`
	selectUserSQL  = `SELECT ` + columns + ` FROM users WHERE user_id = $1`
	selectEmailSQL = `SELECT ` + columns + ` FROM users WHERE email = $1`
)

// New migrates the users schema and returns the store.
func New(ctx context.Context, db database.DB) (*Store, error) {
	if err := migrate.Run(ctx, db, "users", migrations, "migrations"); err != nil {
		return nil, fmt.Errorf("users: %s: %w", db.Dialect(), err)
	}
	return &Store{db: db, lockUserSQL: selectUserSQL + db.Dialect().ForUpdate()}, nil
}

func scanUser(row database.Row) (users.User, error) {
	var u users.User
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Disabled, &u.CreatedAt, &u.UpdatedAt,
		&u.Name, &u.GivenName, &u.FamilyName, &u.PreferredUsername, &u.Locale, &u.EmailVerified); err != nil {
		return users.User{}, err
	}
	return u, nil
}

// get reads the user that query, of one parameter, selects.
func get(ctx context.Context, q database.Querier, query string, arg any) (users.User, error) {
	u, err := scanUser(q.QueryRow(ctx, query, arg))
	if errors.Is(err, database.ErrNoRows) {
		return users.User{}, users.ErrNotFound
	}
	return u, err
}

// Create implements users.Store.
func (s *Store) Create(ctx context.Context, u users.User) error {
	_, err := s.db.Exec(ctx, `INSERT INTO users (`+columns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		u.ID, u.Email, u.PasswordHash, u.Disabled, u.CreatedAt, u.UpdatedAt,
		u.Name, u.GivenName, u.FamilyName, u.PreferredUsername, u.Locale, u.EmailVerified)
	if database.IsUniqueViolation(err) {
		err = users.ErrAlreadyExists
	}
	if err != nil {
		return fmt.Errorf("users: create user %q: %w", u.ID, err)
	}
	return nil
}

// Get implements users.Store.
func (s *Store) Get(ctx context.Context, id string) (users.User, error) {
	u, err := get(ctx, s.db, selectUserSQL, id)
	if err != nil {
		return users.User{}, fmt.Errorf("users: get user %q: %w", id, err)
	}
	return u, nil
}

// GetByEmail implements users.Store. The email is not in the error: it is
// personal data, and errors end up in logs.
func (s *Store) GetByEmail(ctx context.Context, email string) (users.User, error) {
	u, err := get(ctx, s.db, selectEmailSQL, email)
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
		rows database.Rows
		err  error
	)
	if after == nil {
		rows, err = s.db.Query(ctx, `
			SELECT `+columns+` FROM users
			ORDER BY created_at, user_id LIMIT $1`, limit)
	} else {
		rows, err = s.db.Query(ctx, `
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
	err := s.db.Tx(ctx, func(tx database.Tx) error {
		// On PostgreSQL the row lock holds every other Update of this user
		// until COMMIT, and the locking read returns the latest committed
		// row; on SQLite the transaction has held the write lock since
		// BEGIN.
		u, err := get(ctx, tx, s.lockUserSQL, id)
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
			UPDATE users SET email = $2, password_hash = $3, disabled = $4, updated_at = $5,
				name = $6, given_name = $7, family_name = $8, preferred_username = $9,
				locale = $10, email_verified = $11
			WHERE user_id = $1`,
			id, u.Email, u.PasswordHash, u.Disabled, u.UpdatedAt,
			u.Name, u.GivenName, u.FamilyName, u.PreferredUsername, u.Locale, u.EmailVerified)
		if database.IsUniqueViolation(err) {
			return users.ErrAlreadyExists
		}
		if err != nil {
			return err
		}
		// u as it reads back.
		u.CreatedAt, u.UpdatedAt = database.Stored(u.CreatedAt), database.Stored(u.UpdatedAt)
		out = u
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
