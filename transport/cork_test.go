package transport

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// recordingConn counts the writes that reach the network.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func TestCorkSendsABatchInOneWrite(t *testing.T) {
	rec := &recordingConn{}
	c := &corkConn{Conn: rec}
	if _, err := c.Write([]byte("a")); err != nil || len(rec.writes) != 1 {
		t.Fatalf("an uncorked write must pass through: %v %d", err, len(rec.writes))
	}
	c.cork()
	for _, s := range []string{"b", "c", "d"} {
		if n, err := c.Write([]byte(s)); n != 1 || err != nil {
			t.Fatalf("corked write: %d %v", n, err)
		}
	}
	if len(rec.writes) != 1 {
		t.Fatalf("corked writes reached the network: %q", rec.writes)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 2 || string(rec.writes[1]) != "bcd" {
		t.Fatalf("uncork wrote %q, want one write of bcd", rec.writes)
	}
	if err := c.uncork(); err != nil || len(rec.writes) != 2 {
		t.Fatalf("uncorking again wrote something: %q", rec.writes)
	}
	if _, err := c.Write([]byte("e")); err != nil || string(rec.writes[2]) != "e" {
		t.Fatalf("after uncork writes pass through: %q", rec.writes)
	}
}

// TestCorkKeepsConcurrentWritesInOrder: a write from another goroutine while
// corked (gws's own close frame) lands after what was corked before it.
func TestCorkKeepsConcurrentWritesInOrder(t *testing.T) {
	rec := &recordingConn{}
	c := &corkConn{Conn: rec}
	c.cork()
	c.Write([]byte("frame1 "))
	done := make(chan struct{})
	go func() {
		c.Write([]byte("close "))
		close(done)
	}()
	<-done
	c.Write([]byte("frame2"))
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, w := range rec.writes {
		all = append(all, w...)
	}
	if string(all) != "frame1 close frame2" {
		t.Fatalf("stream %q", all)
	}
}
