package sqlite_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/clients/conformance"
	"github.com/gatehouse-dev/gatehouse/services/clients/sqlite"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) clients.Store {
		s, err := sqlite.New(dbtest.SQLite(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
