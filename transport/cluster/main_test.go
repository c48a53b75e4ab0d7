package cluster

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them: every
// adapter, connection and embedded server is closed by the test that made it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
