package app_test

import (
	"testing"
	"unicode/utf8"
)

// FuzzConnectionFrames sends arbitrary text frames through a welcomed,
// joined connection of a real server. Whatever a frame holds, the connection
// either answers it and then still answers a ping, or is closed with a
// protocol close code; and the server keeps serving new connections.
// The seeds below run with every go test; fuzz with `make fuzz` (each input
// costs a connection, so minimization is turned off to keep the fuzzer moving).
func FuzzConnectionFrames(f *testing.F) {
	for _, seed := range []string{
		`{"type":"send","id":1,"room":"fuzz","text":"hi","cid":"c"}`,
		`{"type":"join","id":2,"room":"fuzz","since":{"epoch":"x","offset":99}}`,
		`{"type":"history","id":3,"room":"fuzz","before":1,"limit":1000000}`,
		`{"type":"typing","id":4,"room":"fuzz","on":true}`,
		`{"type":"direct","id":5,"to":"nobody","text":"?"}`,
		`{"type":"hello","id":6,"name":"again"}`,
		`{"type":"refresh","id":7,"token":"x.y.z"}`,
		`{"type":"leave","id":8,"room":"fuzz"}`,
		`{"type":"send","id":9,"room":"fuzz","data":{"a":[1,2,{"b":null}]},"reply_to":"m_x"}`,
		`{"type":"send","id":-1}`, `{"id":1e400}`, `[1,2,3]`, `"str"`, `{}`, ``, `{"type":"ping","id":9223372036854775807}`,
	} {
		f.Add(seed)
	}
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
