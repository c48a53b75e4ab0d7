package bus

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them: every
// embedded server is shut down (and waited for) and every connection closed
// by the test that made it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
