package users

import (
	"context"
	"errors"
	"time"
)

// Errors every Store implementation returns, wrapped with context; callers
// test them with errors.Is. Backends translate driver errors into these.
var (
	// ErrNotFound: no user has the id or email.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the user id or the email is taken.
	ErrAlreadyExists = errors.New("already exists")
)

// User is a user account as the store keeps it. Times are UTC, truncated to
// the microsecond, when they come back from a store.
type User struct {
	// ID is "u_" and 26 lower-case base32 characters (128 random bits).
	ID string
	// Email is unique and normalized (see NormalizeEmail); stores compare
	// it byte for byte.
	Email string
	// PasswordHash is the encoded argon2id hash (see Params.Hash).
	PasswordHash string
	Disabled     bool
	CreatedAt    time.Time
	// UpdatedAt is when anything above or below last changed; it is the
	// OpenID Connect updated_at claim.
	UpdatedAt time.Time

	// The profile: OpenID Connect Core 1.0 §5.1 standard claims, each
	// empty (false) when unknown. The service checks and normalizes them
	// (validate.go); stores keep them byte for byte.

	// Name is the full name in displayable form (claim name).
	Name string
	// GivenName is the given or first name(s) (claim given_name).
	GivenName string
	// FamilyName is the surname(s) (claim family_name).
	FamilyName string
	// PreferredUsername is a shorthand name (claim preferred_username):
	// neither unique nor a sign-in identifier.
	PreferredUsername string
	// Locale is a BCP 47 language tag such as en-US (claim locale).
	Locale string
	// EmailVerified says that an admin vouches for Email (claim
	// email_verified): there is no email-verification flow.
	EmailVerified bool
}

// Cursor is the position after which List continues: users are ordered by
// (CreatedAt, ID).
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Store is what the user directory needs from storage. Every method is
// atomic and safe for concurrent use, also by several processes sharing
// the database.
type Store interface {
	// Create inserts u; ErrAlreadyExists if its ID or its Email is taken.
	Create(ctx context.Context, u User) error
	// Get returns the user with the id; ErrNotFound if absent.
	Get(ctx context.Context, id string) (User, error)
	// GetByEmail returns the user with exactly this (normalized) email;
	// ErrNotFound if absent.
	GetByEmail(ctx context.Context, email string) (User, error)
	// List returns up to limit users after the cursor (nil: from the
	// start), ordered by (CreatedAt, ID); never a nil slice. A limit below
	// 1 is an error.
	List(ctx context.Context, after *Cursor, limit int) ([]User, error)
	// Update reads the user, applies update and writes the result in one
	// transaction, and returns the user as stored: concurrent updates
	// never lose each other's changes. An error from update aborts and is
	// returned unchanged. ErrNotFound if absent; ErrAlreadyExists if the
	// new Email is taken. ID and CreatedAt cannot change.
	Update(ctx context.Context, id string, update func(*User) error) (User, error)
}
