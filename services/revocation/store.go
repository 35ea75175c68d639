package revocation

import (
	"context"
	"errors"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
)

// ErrNotFound is returned, wrapped, by Store.Get when nothing of the kind
// has the id. Callers test it with errors.Is.
var ErrNotFound = errors.New("not found")

// Entry is one revocation as the store keeps it. Times are UTC, truncated
// to the microsecond, when they come back from a store.
type Entry struct {
	// Seq is strictly increasing and assigned by the store; Revoke
	// ignores the caller's.
	Seq  int64
	Kind revocationv1.Kind
	// ID is the identifier within the kind (jti, family id, key id...).
	ID     string
	Reason string
	// RevokedAt is when it was revoked; for the cut-off kinds, credentials
	// issued before it are revoked.
	RevokedAt time.Time
	// ExpiresAt is when the revoked thing would have expired anyway, after
	// which the entry may be dropped. Zero means never.
	ExpiresAt time.Time
}

// Expired reports whether e may be dropped at now: it has an expiry and
// the expiry has passed. Store.DeleteExpired uses the same rule.
func (e Entry) Expired(now time.Time) bool {
	return !e.ExpiresAt.IsZero() && !e.ExpiresAt.After(now)
}

// IsCutOff reports whether k is a cut-off kind (KIND_CLIENT, KIND_SUBJECT):
// one that revokes everything issued before a time, so revoking again moves
// the cut-off instead of being a no-op.
func IsCutOff(k revocationv1.Kind) bool {
	return k == revocationv1.Kind_KIND_CLIENT || k == revocationv1.Kind_KIND_SUBJECT
}

// Store is what the revocation list needs from storage. Every method is
// safe for concurrent use, also by several processes sharing the database.
type Store interface {
	// LogID identifies this list: 128 random bits in lower-case hex,
	// created with the schema, never changed.
	LogID(ctx context.Context) (string, error)

	// Revoke records e under a new sequence number (e.Seq is ignored;
	// the caller sets RevokedAt). For point kinds (every kind but the
	// cut-off ones) revoking an existing (kind, id) changes nothing and
	// returns the existing entry with created=false. For the cut-off
	// kinds an existing entry is replaced, created=true: it gets a new
	// sequence number, e's reason, the later of the two revoked times
	// (a replica with a slow clock must not move a cut-off back and so
	// un-revoke credentials) and the later of the two expiries, zero
	// (never) winning. An entry that has expired but is not yet deleted
	// still counts as existing.
	Revoke(ctx context.Context, e Entry) (stored Entry, created bool, err error)

	// Get returns the entry of (kind, id), expired or not, or an error
	// wrapping ErrNotFound.
	Get(ctx context.Context, kind revocationv1.Kind, id string) (Entry, error)

	// List returns up to limit entries with seq > since in seq order, and
	// head, the latest sequence number assigned. Head is read before the
	// entries in the same snapshot, so every entry with seq <= head is
	// committed and visible: a follower that saw head never meets a
	// smaller seq later. Deleted (expired) entries leave gaps.
	List(ctx context.Context, since int64, limit int) (entries []Entry, head int64, err error)

	// Head returns the latest sequence number assigned, 0 for a new list.
	// Deleting entries never lowers it.
	Head(ctx context.Context) (int64, error)

	// Unpublished returns up to limit entries not yet marked published,
	// in seq order: the outbox of Revoked events.
	Unpublished(ctx context.Context, limit int) ([]Entry, error)

	// MarkPublished marks the entries with these sequence numbers
	// published. Unknown numbers (an entry deleted, or a cut-off entry
	// replaced under a new number meanwhile) are ignored.
	MarkPublished(ctx context.Context, seqs []int64) error

	// DeleteExpired deletes the entries whose ExpiresAt is set and not
	// after now, and returns how many it deleted.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
}

// Replacement is the entry that replaces old when the cut-off entry e of
// the same (kind, id) is revoked again, as Store.Revoke describes it: e's
// reason, the later revoked time and the later expiry, zero (never)
// winning. The store assigns its Seq.
func Replacement(old, e Entry) Entry {
	r := e
	if old.RevokedAt.After(r.RevokedAt) {
		r.RevokedAt = old.RevokedAt
	}
	if old.ExpiresAt.IsZero() || (!r.ExpiresAt.IsZero() && old.ExpiresAt.After(r.ExpiresAt)) {
		r.ExpiresAt = old.ExpiresAt
	}
	return r
}
