package actors

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine the engine started
// outlives them: every goroutine has an owner that stops it. The one
// exception is protoactor's dead-letter throttle, a library goroutine that
// ends by itself one throttle period after the last dead letter.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}
