// Package pagetoken is the page token of the list APIs that page by
// creation time and id (clients, users): an opaque keyset cursor, the
// base64url of "<unix microseconds>|<id>".
package pagetoken

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is a token that this package did not make.
var ErrInvalid = errors.New("pagetoken: invalid page token")

// Encode returns the token of the page after the item created at created
// with id.
func Encode(created time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(created.UnixMicro(), 10) + "|" + id))
}

// Decode reads a token; ok is false for the empty token (the first page).
func Decode(tok string) (created time.Time, id string, ok bool, err error) {
	if tok == "" {
		return time.Time{}, "", false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return time.Time{}, "", false, ErrInvalid
	}
	ts, id, found := strings.Cut(string(b), "|")
	if !found || id == "" {
		return time.Time{}, "", false, ErrInvalid
	}
	us, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, "", false, ErrInvalid
	}
	return time.UnixMicro(us).UTC(), id, true, nil
}
