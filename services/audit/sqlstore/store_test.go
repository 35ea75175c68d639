package sqlstore_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/audit"
	"github.com/gatehouse-dev/gatehouse/services/audit/conformance"
	"github.com/gatehouse-dev/gatehouse/services/audit/sqlstore"
)

func TestConformance(t *testing.T) {
	for _, be := range dbtest.Backends {
		t.Run(be.Name, func(t *testing.T) {
			conformance.Run(t, func(t *testing.T) audit.Store {
				return newStore(t, be.Open(t))
			})
		})
	}
}

func newStore(t *testing.T, db database.DB) audit.Store {
	t.Helper()
	s, err := sqlstore.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
