package conformance

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/services/clients"
)

// Run tests a clients.Store implementation against the contract. newStore
// must return an empty, migrated store of its own on every call (each leaf
// subtest calls it once) and arrange its cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) clients.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Scopes", scopeTests},
		{"Clients", clientTests},
		{"ListClients", listTests},
		{"UpdateClient", updateTests},
		{"DeleteClient", deleteTests},
		{"Secrets", secretTests},
		{"APIKeys", apiKeyTests},
		{"TouchAPIKey", touchTests},
		{"Values", valueTests},
		{"Errors", errorTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, setup(t, newStore)) })
			}
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, e *env)
}
