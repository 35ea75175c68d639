package sqlstore_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
	"github.com/gatehouse-dev/gatehouse/services/revocation/conformance"
	"github.com/gatehouse-dev/gatehouse/services/revocation/sqlstore"
)

func TestConformance(t *testing.T) {
	for _, be := range dbtest.Backends {
		// n stores on one database, as n processes or replicas would have.
		t.Run(be.Name, func(t *testing.T) { conformance.Run(t, dbtest.NewStores[revocation.Store](be, sqlstore.New)) })
	}
}
