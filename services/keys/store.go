package keys

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Errors every Store implementation returns, wrapped with context; callers
// test them with errors.Is. Backends translate driver errors into these.
var (
	// ErrNotFound: no key has the kid.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the kid is taken, or a change would leave two
	// active keys.
	ErrAlreadyExists = errors.New("already exists")
)

// State is where a signing key is in its lifecycle. The stores keep these
// exact strings.
type State string

// The lifecycle: pending → active → retired → removed. A pending key may go
// straight to removed when a newer one supersedes it, and any key goes to
// removed at once in an emergency rotation.
const (
	// StatePending: published in the JWKS, not yet used to sign.
	StatePending State = "pending"
	// StateActive: the one key that signs new tokens.
	StateActive State = "active"
	// StateRetired: no longer signs; published until its tokens expire.
	StateRetired State = "retired"
	// StateRemoved: gone from the JWKS; its private key is deleted.
	StateRemoved State = "removed"
)

// Key is a signing key as the store keeps it.
type Key struct {
	// KID is the RFC 7638 SHA-256 thumbprint of the public key, base64url.
	KID string
	// Alg is the one JWS algorithm the key is used with: ES256, EdDSA,
	// RS256 or PS256.
	Alg   string
	State State
	// PublicJWK is the public key as a JWK (JSON) with kid, alg and use.
	PublicJWK []byte
	// PrivateKey is the PKCS #8 private key sealed with the KEK, the kid
	// as additional data. Never plaintext. Nil once the key is removed,
	// and nil in every Key the Manager hands out.
	PrivateKey []byte
	// CreatedAt is when the key was created and, unless it was created
	// active, first published.
	CreatedAt time.Time
	// ActivateAt is when the key became active, or for a pending key when
	// it is due to. Zero for a key removed while pending.
	ActivateAt time.Time
	// RetiredAt is when the key stopped signing; zero if it never did.
	RetiredAt time.Time
	// RemoveAt is when the key left the JWKS, or for a retired key when it
	// is due to.
	RemoveAt time.Time
	// Version is the store version of the key's last change; the store
	// sets it. The highest Version of all keys is the JWKS version.
	Version int64
}

// Changes are the writes of one Store.Update: keys to insert and keys whose
// mutable fields (State, PrivateKey, ActivateAt, RetiredAt, RemoveAt) to
// overwrite, matched by KID. Alg, PublicJWK and CreatedAt never change.
type Changes struct {
	Insert []Key
	Update []Key
}

// Empty reports whether there is nothing to write.
func (c Changes) Empty() bool { return len(c.Insert) == 0 && len(c.Update) == 0 }

// all lists the changed keys: updates (demotions first), then new keys.
func (c Changes) all() []Key { return slices.Concat(c.Update, c.Insert) }

// Store is what key management needs from storage. The table is tiny (a
// key a month), so every operation reads it whole.
type Store interface {
	// List returns every key, removed ones included, newest first
	// (CreatedAt descending, then KID ascending). Times are UTC, to the
	// microsecond.
	List(ctx context.Context) ([]Key, error)

	// Update runs fn on the current keys (as List returns them) and
	// writes the Changes it returns, in one transaction that holds a lock
	// every other Update waits for, in this process or another one on the
	// same database. fn therefore decides on state nobody else can change
	// before the write: this is what lets many replicas start, rotate and
	// tick at once and still make exactly one active key. fn may run
	// slow work (key generation) but must not call the store.
	//
	// Updates are applied before inserts, and changes that make a key
	// active after all others, so swapping the active key never trips the
	// rule that at most one key is active. Every written key gets the new
	// version, the previous highest plus one, which Update returns; with
	// no changes nothing is written and the current version is returned.
	//
	// An error from fn aborts and is returned unchanged. A kid that is
	// taken, or a second active key, is ErrAlreadyExists; an update of an
	// unknown kid is ErrNotFound; a removed key that still has a private
	// key, or another key without one, is refused. Nothing is written
	// when any change fails.
	Update(ctx context.Context, fn func(keys []Key) (Changes, error)) (version int64, err error)
}
