package app_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine of a server outlives
// its Shutdown: every goroutine the engine and the transport start has an
// owner that stops it. protoactor's dead-letter throttle ends by itself one
// period after the last dead letter.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}
