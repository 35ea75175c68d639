package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
	"github.com/gatehouse-dev/gatehouse/services/revocation/conformance"
	"github.com/gatehouse-dev/gatehouse/services/revocation/sqlite"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, NewStores)
}

// NewStores opens the same new database file n times, as n processes
// would.
func NewStores(t *testing.T, n int) []revocation.Store {
	path := filepath.Join(t.TempDir(), "revocation.db")
	var out []revocation.Store
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
