package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/users"
	"github.com/gatehouse-dev/gatehouse/services/users/conformance"
	"github.com/gatehouse-dev/gatehouse/services/users/postgres"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, NewStores)
}

// NewStores returns n stores on one new schema, each with a pool of its
// own, as n replicas would have.
func NewStores(t *testing.T, n int) []users.Store {
	first := dbtest.Postgres(t)
	var out []users.Store
	for i := range n {
		pool := first
		if i > 0 {
			var err error
			// Config() is a copy with the schema's search_path.
			pool, err = pgxpool.NewWithConfig(t.Context(), first.Config())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
		}
		s, err := postgres.New(t.Context(), pool)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}
