package troupe_test

import (
	"bytes"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/clients/go/troupe"
)

// clientFrames matches a stack frame of package troupe (not troupe_test).
var clientFrames = regexp.MustCompile(`troupe-chat/troupe/clients/go/troupe\.`)

// clientGoroutines returns the stacks of goroutines running client code.
func clientGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if clientFrames.Match(g) {
			out = append(out, string(g))
		}
	}
	return out
}

// TestCloseStopsEverything: after a reconnect and recovery, Close ends the
// client: a ClosedEvent is the last event, requests fail with ErrClosed and
// no goroutine of the client is left.
func TestCloseStopsEverything(t *testing.T) {
	srv, url := startServer(t)
	ctx := testCtx(t)
	if left := clientGoroutines(); len(left) != 0 {
		t.Fatalf("client goroutines before the test: %v", left)
	}
	rec := newRecorder()
	c, err := troupe.Dial(ctx, troupe.Options{URL: url, Name: "zed", Reconnect: fastReconnect, OnEvent: rec.on})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	killConns(t, srv, c)
	await[troupe.RecoveredEvent](t, rec, "recovered", nil)

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if err := c.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	evs := rec.snapshot()
	if last, ok := evs[len(evs)-1].(troupe.ClosedEvent); !ok || last.Code != troupe.CloseNormal || last.Err != nil {
		t.Errorf("last event %#v, want ClosedEvent 1000", evs[len(evs)-1])
	}
	if _, err := c.Send(ctx, "r", troupe.Message{Text: "x"}); !errors.Is(err, troupe.ErrClosed) {
		t.Errorf("send after Close = %v, want ErrClosed", err)
	}
	// A goroutine that has signalled its end may still be unwinding; give
	// it the processor until the deadline (as goleak retries).
	left := clientGoroutines()
	for deadline := time.Now().Add(2 * time.Second); len(left) != 0 && time.Now().Before(deadline); left = clientGoroutines() {
		runtime.Gosched()
	}
	if len(left) != 0 {
		t.Errorf("%d client goroutines left after Close:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// TestCloseFromHandler: Close called from OnEvent does not deadlock.
func TestCloseFromHandler(t *testing.T) {
	_, url := startServer(t)
	ctx := testCtx(t)
	var c *troupe.Client
	ready := make(chan struct{})
	closed := make(chan error, 1)
	c, err := troupe.Dial(ctx, troupe.Options{URL: url, Name: "self", OnEvent: func(ev troupe.Event) {
		if _, ok := ev.(troupe.ConnectedEvent); ok {
			<-ready
			closed <- c.Close()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Close from the handler did not return")
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the dispatcher did not finish")
	}
	if !errors.Is(c.Err(), troupe.ErrClosed) {
		t.Errorf("Err() = %v, want ErrClosed", c.Err())
	}
}
