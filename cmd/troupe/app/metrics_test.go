package app_test

import (
	"testing"
	"time"
)

// TestOperatorMetrics checks the metrics operators of realtime servers ask
// for first: sessions opened new and resumed, bytes in and out, and the
// heartbeat round trip, against a real server and client.
func TestOperatorMetrics(t *testing.T) {
	a := startServer(t, "--rate-limit", "0", "--heartbeat-interval", "50ms", "--idle-timeout", "5s")
	addr := a.Addr.String()
	c := mustDial(t, addr)
	w := c.hello("ann")
	c.request(map[string]any{"type": "join", "room": "m"})
	c.request(map[string]any{"type": "send", "room": "m", "text": "twelve bytes", "cid": "c1"})
	c.conn.WriteClose(1000, nil)
	c.waitClose()
	d := mustDial(t, addr)
	if f := d.request(map[string]any{"type": "hello", "name": "ann", "session": w["session"]}); f["resumed"] != true {
		t.Fatalf("reconnect = %v, want the session resumed", f)
	}

	deadline := time.Now().Add(frameWait)
	for {
		_, samples := scrape(t, addr)
		if sampleOr(samples, "troupe_heartbeat_rtt_seconds_count", 0) >= 1 {
			if n := sample(t, samples, `troupe_sessions_opened_total{kind="new"}`); n != 1 {
				t.Errorf("new sessions = %v, want 1", n)
			}
			if n := sample(t, samples, `troupe_sessions_opened_total{kind="resumed"}`); n != 1 {
				t.Errorf("resumed sessions = %v, want 1", n)
			}
			if in := sample(t, samples, "troupe_bytes_in_total"); in < 100 {
				t.Errorf("bytes in = %v, want at least the hellos, join and send", in)
			}
			if out := sample(t, samples, "troupe_bytes_out_total"); out < 200 {
				t.Errorf("bytes out = %v, want at least the welcomes, joined and ack", out)
			}
			if rtt := sample(t, samples, "troupe_heartbeat_rtt_seconds_sum"); rtt <= 0 || rtt > 5 {
				t.Errorf("heartbeat round trips sum to %vs", rtt)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat round trip observed")
		}
		time.Sleep(20 * time.Millisecond) // pings go out on the heartbeat tick; poll the scrape
	}
}

// sampleOr is sample with a default for a missing sample.
func sampleOr(samples []promSample, name string, def float64) float64 {
	for _, s := range samples {
		if s.name == name {
			return s.value
		}
	}
	return def
}
