package bench

import (
	"context"
	"net"
	"testing"
)

// TestDialRotatesSource: connections leave from the --src addresses in turn.
func TestDialRotatesSource(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srcs, err := parseSrc("127.0.0.2-127.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	d := &dialer{srcs: srcs}
	seen := map[string]int{}
	for range 6 {
		c, err := d.dialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		seen[c.LocalAddr().(*net.TCPAddr).IP.String()]++
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		if seen[ip] != 2 {
			t.Errorf("source addresses used %v, want each of 127.0.0.2-4 twice", seen)
			break
		}
	}
}
