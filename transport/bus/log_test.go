package bus

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server's logging goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServerLogsThroughSlog(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e, err := StartEmbedded(EmbeddedOptions{Name: "logged", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.Shutdown()
	out := buf.String()
	for _, want := range []string{`level=INFO msg="Server is ready" component=nats-server`, "Listening for route connections"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "level=DEBUG") {
		t.Error("debug lines at Info level")
	}
}

func TestServerLoggerLevels(t *testing.T) {
	var buf syncBuffer
	l := newServerLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: LevelTrace})))
	l.Noticef("n %d", 1)
	l.Warnf("w")
	l.Errorf("e")
	l.Debugf("d")
	l.Tracef("t")
	if l.fatalErr() != nil {
		t.Fatal("fatal before Fatalf")
	}
	l.Fatalf("f %s", "boom")
	l.Fatalf("second")
	out := buf.String()
	for _, want := range []string{"level=INFO msg=\"n 1\"", "level=WARN msg=w", "level=ERROR msg=e", "level=DEBUG msg=d", "level=DEBUG-4 msg=t", `level=ERROR msg="f boom" fatal=true`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if err := l.fatalErr(); err == nil || !strings.Contains(err.Error(), "f boom") {
		t.Errorf("fatal error %v, want the first one", err)
	}
}

// TestCloseNeverConnected: Close returns for a connection still trying its
// first server, and a second Close is a no-op.
func TestCloseNeverConnected(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "nats://" + l.Addr().String()
	l.Close()
	c, err := Connect(ConnOptions{URLs: []string{u}, RetryOnFailedConnect: true, ReconnectWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		c.Close()
		c.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Close hangs")
	}
	if err := c.Publish("troupe.x", nil); err == nil {
		t.Fatal("publish on a closed connection")
	}
}
