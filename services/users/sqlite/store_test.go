package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/users"
	"github.com/gatehouse-dev/gatehouse/services/users/conformance"
	"github.com/gatehouse-dev/gatehouse/services/users/sqlite"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, NewStores)
}

// NewStores opens the same new database file n times, as n processes
// would.
func NewStores(t *testing.T, n int) []users.Store {
	path := filepath.Join(t.TempDir(), "users.db")
	var out []users.Store
	for range n {
		db, err := database.OpenSQLite(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		s, err := sqlite.New(t.Context(), db)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}
