package leases

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them: every
// keeper is stopped by the test that started it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
