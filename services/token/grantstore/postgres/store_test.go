package postgres_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/conformance"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/postgres"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) grantstore.Store {
		s, err := postgres.New(t.Context(), dbtest.Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
