package transport

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine the transport started
// (flushers, readers, timers) outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
