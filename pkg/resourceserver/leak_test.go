package resourceserver

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// follower, subscription, listener and ticker they start must stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
