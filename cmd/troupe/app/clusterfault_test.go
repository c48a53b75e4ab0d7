package app_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Cluster fault tests beyond a node's death: an owner paused past its lease,
// and nodes cut off from the bus or the store.

// TestClusterPausedOwnerIsFenced SIGSTOPs the node that owns a busy room,
// past its lease, while members on every node send: another node claims
// the room and serves it. When the old owner wakes (SIGCONT) it must not
// write: it relays to the new owner, and its member's sends, queued while it
// slept, are stored by the new owner. Nothing is stored twice, nobody is
// told an offset twice or two messages at one offset, nothing acked is lost.
func TestClusterPausedOwnerIsFenced(t *testing.T) {
	c := startCluster(t, 3)
	clients := make([]*rawClient, 3)
	for i, p := range c.procs {
		clients[i] = mustDial(t, p.addr)
		clients[i].hello("u" + strconv.Itoa(i))
		if j := clients[i].request(map[string]any{"type": "join", "room": "fenced"}); j["type"] != "joined" {
			t.Fatalf("join on node %d = %v", i+1, j) // node 1 first: it owns the room
		}
	}
	load := newRoomLoad(t, "fenced", clients)
	load.start(8)
	load.run("60 acks", func() bool { return len(load.acked) >= 60 })
	old := c.procs[0].cmd.Process
	if err := old.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	load.paused[0] = true
	load.markNow()
	load.run("the room served again while its owner sleeps", func() bool { return load.ackedAfter != 0 })
	replaced := load.ackedAfter
	before := len(load.acked)
	load.run("100 more acks without the old owner", func() bool { return len(load.acked) >= before+100 })
	if err := old.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	load.paused[0] = false
	woke := load.acks[0]
	load.run("the old owner's member served again", func() bool { return load.acks[0] >= woke+30 })
	t.Logf("re-placed %v after the SIGSTOP; %d acked", replaced, len(load.acked))
	// The woken node relays the room: it claimed nothing back.
	waitMetric(t, c.procs[0].addr, "troupe_rooms_relayed 1")
	load.verify(mustHello(t, c.procs[2].addr, "reader"))
	t.Logf("old owner: %s", metricLine(t, c.procs[0].addr, "troupe_fenced_writes_total"))
}

// metricLine returns the line of a node's /metrics that starts with name.
func metricLine(t *testing.T, addr, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name) {
			return l
		}
	}
	return name + " absent"
}

// mustHello dials addr and says hello as name.
func mustHello(t *testing.T, addr, name string) *rawClient {
	t.Helper()
	c := mustDial(t, addr)
	c.hello(name)
	return c
}
