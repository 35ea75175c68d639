package users

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/database"
)

// guardedStore is the Store as the Service uses it: a lookup by an id no
// Store can hold (database.Storable: NUL or invalid UTF-8 from a REST
// path or a page token) finds nothing, before the Store sees it. Emails
// are checked by NormalizeEmail.
type guardedStore struct{ Store }

func (g guardedStore) Get(ctx context.Context, id string) (User, error) {
	if !database.Storable(id) {
		return User{}, ErrNotFound
	}
	return g.Store.Get(ctx, id)
}

func (g guardedStore) List(ctx context.Context, after *Cursor, limit int) ([]User, error) {
	if after != nil && !database.Storable(after.ID) {
		return nil, fieldErr("page_token", "invalid")
	}
	return g.Store.List(ctx, after, limit)
}

func (g guardedStore) Update(ctx context.Context, id string, update func(*User) error) (User, error) {
	if !database.Storable(id) {
		return User{}, ErrNotFound
	}
	return g.Store.Update(ctx, id, update)
}
