package users

import (
	"context"
	"strings"
	"unicode/utf8"
)

// storable reports whether s fits a text column of every Store: valid
// UTF-8 without NUL. PostgreSQL's text type refuses anything else (SQLSTATE
// 22021) where SQLite keeps it, so a lookup by such an id would be a 500
// with one and a 404 with the other. Emails are checked by NormalizeEmail;
// ids come in REST paths and page tokens.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// guardedStore is the Store as the Service uses it: a lookup by an id no
// Store can hold finds nothing, before the Store sees it.
type guardedStore struct{ Store }

func (g guardedStore) Get(ctx context.Context, id string) (User, error) {
	if !storable(id) {
		return User{}, ErrNotFound
	}
	return g.Store.Get(ctx, id)
}

func (g guardedStore) List(ctx context.Context, after *Cursor, limit int) ([]User, error) {
	if after != nil && !storable(after.ID) {
		return nil, fieldErr("page_token", "invalid")
	}
	return g.Store.List(ctx, after, limit)
}

func (g guardedStore) Update(ctx context.Context, id string, update func(*User) error) (User, error) {
	if !storable(id) {
		return User{}, ErrNotFound
	}
	return g.Store.Update(ctx, id, update)
}
