// Package codec holds the grant store's rules that are not SQL: the
// encoding of string lists (JSON text in both databases' grant tables), the
// check of hashes, the expiry cut-off, the order of bulk revocations and
// RotateRefresh's decision.
package codec

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
)

// List encodes a list of strings (scopes, resource indicators) as a JSON
// array, the form both backends store: it keeps any string intact, where a
// space-separated list could not hold a resource URI with an escaped space
// or tell an empty string from none. nil becomes "[]", not "null".
func List(v []string) (string, error) {
	if v == nil {
		v = []string{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode list: %w", err)
	}
	return string(b), nil
}

// ParseList decodes what List encoded. It never returns nil, so callers get
// the same empty slice whether the list was stored from nil or from empty.
func ParseList(s string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("corrupt list %q: %w", s, err)
	}
	if v == nil {
		v = []string{}
	}
	return v, nil
}

// CheckHash refuses a hash that is not a SHA-256: a caller storing the raw
// secret, or a truncated hash, by mistake. what names it in the error.
func CheckHash(what string, h []byte) error {
	if len(h) != grantstore.HashSize {
		return fmt.Errorf("%s hash is %d bytes, want %d (SHA-256)", what, len(h), grantstore.HashSize)
	}
	return nil
}

// Cutoff is now - keep, the expiry at or before which DeleteExpired removes
// rows. A negative keep would delete what has not expired yet.
func Cutoff(now time.Time, keep time.Duration) (time.Time, error) {
	if keep < 0 {
		return time.Time{}, fmt.Errorf("keep %v is negative", keep)
	}
	return now.Add(-keep), nil
}

// CheckRefresh refuses a refresh token that cannot be stored in the family
// familyID: a bad hash, or a token of another family.
func CheckRefresh(rt grantstore.Refresh, familyID string) error {
	if err := CheckHash("refresh token", rt.Hash); err != nil {
		return err
	}
	if rt.FamilyID != familyID {
		return fmt.Errorf("refresh token of family %q cannot join family %q", rt.FamilyID, familyID)
	}
	return nil
}

// SortFamilies puts families in the order the bulk revocations return them,
// CreatedAt then ID: UPDATE ... RETURNING has none of its own.
func SortFamilies(fs []grantstore.Family) {
	slices.SortFunc(fs, func(a, b grantstore.Family) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
}

// Refusal is RotateRefresh's decision on presenting old of family f at
// now, by a presenter, for a new token of scopes (empty: the old token's):
// nil to rotate, or the sentinel to refuse with. A mismatch comes first: it
// says nothing of the token's state, so another client's replay changes
// nothing. Reuse comes next so that every replay is reported as one, also
// when an earlier replay has revoked the family already. The SQL of the
// rotation in one statement mirrors these conditions.
func Refusal(old grantstore.Refresh, f grantstore.Family, by grantstore.Presenter, scopes []string, now time.Time) error {
	switch {
	case f.ClientID != by.ClientID, f.DPoPJKT != "" && f.DPoPJKT != by.DPoPJKT, !subset(scopes, f.Scopes):
		return grantstore.ErrMismatch
	case !old.RotatedAt.IsZero():
		return grantstore.ErrRefreshReused
	case !f.RevokedAt.IsZero():
		return grantstore.ErrRevoked
	case !f.ExpiresAt.After(now), !old.IdleExpiresAt.After(now):
		return grantstore.ErrExpired
	}
	return nil
}

func subset(s, of []string) bool {
	for _, v := range s {
		if !slices.Contains(of, v) {
			return false
		}
	}
	return true
}

// Next completes the token RotateRefresh stores after old, of family f:
// the family's id when next has none, the old token's scopes when next has
// none, its idle expiry capped at the family's expiry. The SQL of the
// rotation in one statement does the same.
func Next(next, old grantstore.Refresh, f grantstore.Family) grantstore.Refresh {
	if next.FamilyID == "" {
		next.FamilyID = f.ID
	}
	if len(next.Scopes) == 0 {
		next.Scopes = old.Scopes
	}
	if f.ExpiresAt.Before(next.IdleExpiresAt) {
		next.IdleExpiresAt = f.ExpiresAt
	}
	return next
}
