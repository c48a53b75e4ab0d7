package app_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence/pgtest"
)

// Cluster tests: three troupe processes on 127.0.0.2–127.0.0.4, their
// embedded NATS servers routed to each other, one real PostgreSQL.

type clusterNodes struct {
	procs []*serverProcess
	args  [][]string
	bin   string
}

// freePort finds a free TCP port on host.
func freePort(t *testing.T, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Skipf("cannot listen on %s (no 127.0.0.0/8 aliases?): %v", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startCluster(t *testing.T, n int) *clusterNodes {
	t.Helper()
	var routes []string
	for i := range n {
		host := nodeHost(i)
		routes = append(routes, fmt.Sprintf("%s:%d", host, freePort(t, host)))
	}
	return startNodes(t, n, func(i int, store string) []string {
		return []string{"--store", store, "--cluster-listen", routes[i], "--cluster-peers", joinComma(routes)}
	})
}

// nodeHost is the loopback address node i (from 0) listens on.
func nodeHost(i int) string { return "127.0.0." + strconv.Itoa(i+2) }

// startNodes starts n troupe processes, node i on nodeHost(i) with the
// cluster and store flags clusterArgs gives it (store is a fresh database
// of a real PostgreSQL), and waits until every node's lease table lists n
// nodes.
func startNodes(t *testing.T, n int, clusterArgs func(i int, store string) []string) *clusterNodes {
	t.Helper()
	if testing.Short() {
		t.Skip("starts several server processes and PostgreSQL")
	}
	store := pgtest.New(t).NewDatabase(t)
	c := &clusterNodes{bin: buildTroupe(t)}
	for i := range n {
		args := append([]string{
			"--addr", nodeHost(i) + ":0", "--rate-limit", "0", "--api-key", "k", "--node-id", "n" + strconv.Itoa(i+1),
		}, clusterArgs(i, store)...)
		c.args = append(c.args, args)
		c.procs = append(c.procs, startProcess(t, c.bin, args...))
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.report(t)
		}
	})
	for _, p := range c.procs {
		waitMetric(t, p.addr, fmt.Sprintf("troupe_cluster_nodes %d", n))
	}
	return c
}

// clusterMetrics are the metrics a failed cluster test reports per node:
// leases, claims, forwarding and the bus.
var clusterMetrics = []string{
	"troupe_cluster_connected", "troupe_cluster_nodes", "troupe_lease_", "troupe_room_claims",
	"troupe_rooms_relayed", "troupe_forwarded", "troupe_fenced_writes", "troupe_relay_backfills",
}

// report logs each node's cluster metrics and last log lines, so a failed
// cluster test says what each node thought.
func (c *clusterNodes) report(t *testing.T) {
	for i, p := range c.procs {
		var lines []string
		if resp, err := http.Get("http://" + p.addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(b), "\n") {
				for _, m := range clusterMetrics {
					if strings.HasPrefix(l, m) {
						lines = append(lines, l)
						break
					}
				}
			}
		} else {
			lines = append(lines, "metrics: "+err.Error())
		}
		t.Logf("node %d (%s) metrics:\n%s\nlast log lines:\n%s", i+1, p.addr, strings.Join(lines, "\n"), p.tail)
	}
}

// waitMetric polls a node's /metrics until a line equals want: the cluster
// has formed once every node's lease table lists every node. (The lease
// keeper reads the table every second; no event announces it to a client.)
func waitMetric(t *testing.T, addr, want string) {
	t.Helper()
	deadline := time.Now().Add(frameWait)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(b), "\n") {
				if l == want {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reported %q", addr, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

// TestClusterThreeNodesActAsOne: users on three nodes chat in one room and
// see the same stream (offsets, order) everywhere; presence counts each user
// once; typing, direct and the server API's notify and disconnect cross nodes.
func TestClusterThreeNodesActAsOne(t *testing.T) {
	c := startCluster(t, 3)
	names := []string{"ann", "bob", "cat"}
	clients := make([]*rawClient, 3)
	for i, p := range c.procs {
		clients[i] = mustDial(t, p.addr)
		clients[i].hello(names[i])
		if j := clients[i].request(map[string]any{"type": "join", "room": "lobby"}); j["type"] != "joined" {
			t.Fatalf("%s's join on node %d = %v", names[i], i+1, j)
		}
	}
	const each = 5
	for i, cl := range clients {
		for k := range each {
			cl.sendJSON(map[string]any{"type": "send", "id": 100 + k, "room": "lobby", "text": fmt.Sprintf("%s-%d", names[i], k), "cid": fmt.Sprintf("%s%d", names[i], k)})
		}
	}
	// Every client sees all 15 messages: others' as pushes, its own as acks,
	// at the same offsets, 1..15, each once.
	streams := make([]map[float64]string, 3)
	for i, cl := range clients {
		streams[i] = map[float64]string{}
		acks := 0
		for len(streams[i]) < 3*each {
			f := cl.next()
			switch f["type"] {
			case "ack":
				acks++
				streams[i][f["offset"].(float64)] = fmt.Sprintf("%s-%d", names[i], int(f["id"].(float64))-100)
			case "message", "batch":
				for _, m := range messagesOf(f) {
					off := m["offset"].(float64)
					if _, dup := streams[i][off]; dup {
						t.Fatalf("%s got offset %v twice", names[i], off)
					}
					streams[i][off] = m["text"].(string)
				}
			case "error":
				t.Fatalf("%s got %v", names[i], f)
			}
		}
		if acks != each {
			t.Fatalf("%s got %d acks, want %d", names[i], acks, each)
		}
	}
	for off := float64(1); off <= 3*each; off++ {
		if streams[0][off] == "" || streams[0][off] != streams[1][off] || streams[1][off] != streams[2][off] {
			t.Fatalf("offset %v: ann %q, bob %q, cat %q", off, streams[0][off], streams[1][off], streams[2][off])
		}
	}
	// Presence on node 3 comes to list the three users, each once (nodes
	// exchange presence snapshots; a lost one is repaired at the next beat).
	var p map[string]any
	var ids []string
	for wait := time.Now().Add(frameWait); len(ids) != 3; {
		if time.Now().After(wait) {
			t.Fatalf("presence on node 3 = %v, want three users", p)
		}
		p = clients[2].request(map[string]any{"type": "presence", "room": "lobby"})
		ids = ids[:0]
		for _, m := range p["members"].([]any) {
			ids = append(ids, m.(map[string]any)["id"].(string))
		}
		sort.Strings(ids)
		if len(ids) != 3 {
			clients[2].nextOfType("presence_diff") // the next change, or fail after frameWait
		}
	}
	// Typing from node 1 reaches node 2.
	clients[0].sendJSON(map[string]any{"type": "typing", "room": "lobby", "on": true})
	if ty := clients[1].nextOfType("typing"); ty["room"] != "lobby" {
		t.Fatalf("typing = %v", ty)
	}
	// A direct message from node 1 to cat on node 3.
	catID := ids[sortIndex(ids, p, "cat")]
	if ack := clients[0].request(map[string]any{"type": "direct", "to": catID, "text": "psst"}); ack["type"] != "ack" {
		t.Fatalf("direct across nodes = %v", ack)
	}
	if d := clients[2].nextOfType("direct"); d["text"] != "psst" {
		t.Fatalf("cat got %v", d)
	}
	// The server API on node 2 notifies cat and disconnects ann.
	status, body := apiCall(t, c.procs[1].addr, "k", "POST", "/api/notify", fmt.Sprintf(`{"user":%q,"event":"hi","data":1}`, catID))
	if status != 200 || body["delivered"] != float64(1) {
		t.Fatalf("notify across nodes = %d %v", status, body)
	}
	if n := clients[2].nextOfType("notify"); n["event"] != "hi" {
		t.Fatalf("cat's notify = %v", n)
	}
	annID := ids[sortIndex(ids, p, "ann")]
	if status, body := apiCall(t, c.procs[2].addr, "k", "POST", "/api/disconnect", fmt.Sprintf(`{"user":%q,"reason":"bye"}`, annID)); status != 200 {
		t.Fatalf("disconnect across nodes = %d %v", status, body)
	}
	if code := clients[0].waitClose(); code != 4002 {
		t.Fatalf("ann closed with %d, want 4002", code)
	}
}

// sortIndex finds the id of the presence member called name.
func sortIndex(ids []string, presence map[string]any, name string) int {
	for _, m := range presence["members"].([]any) {
		mm := m.(map[string]any)
		if mm["name"] == name {
			for i, id := range ids {
				if id == mm["id"] {
					return i
				}
			}
		}
	}
	return 0
}

// TestClusterNodeKillLosesNothing SIGKILLs the node that owns a busy room
// while members on the other nodes send: a surviving node claims the room
// once the dead node's lease expires, and every acked message is stored once,
// in order, with no gap, and delivered to the survivors, each once.
func TestClusterNodeKillLosesNothing(t *testing.T) {
	c := startCluster(t, 3)
	owner := mustHello(t, c.procs[0].addr, "owner")
	owner.request(map[string]any{"type": "join", "room": "busy"}) // node 1 claims the room
	senders := []*rawClient{mustHello(t, c.procs[1].addr, "s0"), mustHello(t, c.procs[2].addr, "s1")}
	for _, s := range senders {
		s.request(map[string]any{"type": "join", "room": "busy"})
	}
	load := newRoomLoad(t, "busy", senders)
	load.start(8)
	load.run("100 acks", func() bool { return len(load.acked) >= 100 })
	if err := c.procs[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	load.markNow()
	load.run("400 acks", func() bool { return len(load.acked) >= 400 })
	t.Logf("re-placed: the first send made after the kill was acked %v after it; %d acked", load.ackedAfter, len(load.acked))
	load.verify(mustHello(t, c.procs[1].addr, "reader"))
}
