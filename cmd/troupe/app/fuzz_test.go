package app_test

import (
	"testing"
	"unicode/utf8"
)

// FuzzConnectionFrames sends arbitrary text frames through a welcomed,
// joined connection of a real server. Whatever a frame holds, the connection
// either answers it and then still answers a ping, or is closed with a
// protocol close code; and the server keeps serving new connections.
// The corpus in testdata/fuzz/FuzzConnectionFrames runs with every go test;
// fuzz with `make fuzz` (each input costs a connection, so minimization is
// turned off to keep the fuzzer moving).
func FuzzConnectionFrames(f *testing.F) {
	a := startServer(f, "--rate-limit", "0")
	addr := a.Addr.String()
	f.Fuzz(func(t *testing.T, frame string) {
		if !utf8.ValidString(frame) {
			t.Skip("invalid UTF-8 is a 1007 close, tested elsewhere")
		}
		c := mustDial(t, addr)
		c.hello("fuzzer")
		if r := c.request(map[string]any{"type": "join", "room": "fuzz"}); r["type"] != "joined" {
			t.Fatalf("join: %v", r)
		}
		if err := c.conn.WriteString(frame); err != nil {
			t.Fatalf("write: %v", err)
		}
		reply, err := c.call(1<<40, `{"type":"ping","id":1099511627776}`)
		if err != nil {
			switch code := c.code(); code {
			case 1008, 1009, 4001:
				return // a protocol close
			default:
				t.Fatalf("after %q: %v (close code %d)", frame, err, code)
			}
		}
		if reply["type"] != "pong" {
			t.Fatalf("after %q the ping was answered %v", frame, reply)
		}
	})
}
