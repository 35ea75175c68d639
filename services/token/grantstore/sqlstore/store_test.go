package sqlstore_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/conformance"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/sqlstore"
)

func TestConformance(t *testing.T) {
	for _, be := range dbtest.Backends {
		t.Run(be.Name, func(t *testing.T) { conformance.Run(t, dbtest.NewStore[grantstore.Store](be, sqlstore.New)) })
	}
}
