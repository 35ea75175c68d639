package events

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// embedded server and every connection must be shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
