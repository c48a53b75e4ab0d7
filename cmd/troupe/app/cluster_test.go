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
	if testing.Short() {
		t.Skip("starts three server processes and PostgreSQL")
	}
	store := pgtest.New(t).NewDatabase(t)
	c := &clusterNodes{bin: buildTroupe(t)}
	var routes []string
	hosts := make([]string, n)
	for i := range n {
		hosts[i] = "127.0.0." + strconv.Itoa(i+2)
		routes = append(routes, fmt.Sprintf("%s:%d", hosts[i], freePort(t, hosts[i])))
	}
	for i := range n {
		args := []string{
			"--addr", hosts[i] + ":0", "--store", store, "--rate-limit", "0", "--api-key", "k",
			"--node-id", "n" + strconv.Itoa(i+1), "--cluster-listen", routes[i], "--cluster-peers", joinComma(routes),
		}
		c.args = append(c.args, args)
		c.procs = append(c.procs, startProcess(t, c.bin, args...))
	}
	for _, p := range c.procs {
		waitMetric(t, p.addr, fmt.Sprintf("troupe_cluster_nodes %d", n))
	}
	return c
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
// in order, with no gap, and delivered to the survivors.
func TestClusterNodeKillLosesNothing(t *testing.T) {
	c := startCluster(t, 3)
	owner := mustDial(t, c.procs[0].addr)
	owner.hello("owner")
	owner.request(map[string]any{"type": "join", "room": "busy"}) // node 1 claims the room
	senders := []*rawClient{mustDial(t, c.procs[1].addr), mustDial(t, c.procs[2].addr)}
	for i, s := range senders {
		s.hello("s" + strconv.Itoa(i))
		s.request(map[string]any{"type": "join", "room": "busy"})
	}
	acked := map[string]float64{}
	got := []map[float64]bool{{}, {}}    // offsets each sender heard of, as a push or its own ack
	pushed := []map[float64]bool{{}, {}} // offsets pushed to each sender
	sent := []int{0, 0}
	unacked := []map[int]bool{{}, {}}
	sentAt := []map[int]time.Time{{}, {}}
	send := func(i int) {
		sent[i]++
		n := sent[i]
		unacked[i][n] = true
		sentAt[i][n] = time.Now()
		senders[i].sendJSON(map[string]any{"type": "send", "id": n, "room": "busy", "text": fmt.Sprintf("s%d-%d", i, n), "cid": fmt.Sprintf("s%d-%d", i, n)})
	}
	resend := func(i, n int) {
		senders[i].sendJSON(map[string]any{"type": "send", "id": n, "room": "busy", "text": fmt.Sprintf("s%d-%d", i, n), "cid": fmt.Sprintf("s%d-%d", i, n)})
	}
	for i := range senders {
		for range 8 {
			send(i)
		}
	}
	killed := false
	var killedAt time.Time
	var replaced time.Duration
	deadline := time.Now().Add(60 * time.Second)
	for len(acked) < 400 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d acks within a minute", len(acked))
		}
		if !killed && len(acked) >= 100 {
			if err := c.procs[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed, killedAt = true, time.Now()
		}
		for i, s := range senders {
			select {
			case f := <-s.frames:
				<-s.raw
				switch f["type"] {
				case "ack":
					n := int(f["id"].(float64))
					cid := fmt.Sprintf("s%d-%d", i, n)
					off := f["offset"].(float64)
					if prev, ok := acked[cid]; ok && prev != off {
						t.Fatalf("%s acked at %v and %v", cid, prev, off)
					}
					acked[cid] = off
					got[i][off] = true
					delete(unacked[i], n)
					if killed && replaced == 0 && sentAt[i][n].After(killedAt) {
						replaced = time.Since(killedAt)
					}
					send(i)
				case "error":
					// unavailable while the room is re-placed: send again, same cid
					if n, ok := f["id"].(float64); ok && f["code"] == "unavailable" {
						resend(i, int(n))
					} else {
						t.Fatalf("sender %d got %v", i, f)
					}
				case "message", "batch":
					for _, m := range messagesOf(f) {
						off := m["offset"].(float64)
						if pushed[i][off] {
							t.Fatalf("sender %d was pushed offset %v twice", i, off)
						}
						pushed[i][off], got[i][off] = true, true
					}
				}
			case <-time.After(time.Millisecond):
			}
		}
	}
	t.Logf("re-placed: the first send made after the kill was acked %v after it; %d acked", replaced, len(acked))
	maxAcked := float64(0)
	for _, off := range acked {
		maxAcked = max(maxAcked, off)
	}
	// The stream, read back from node 2, holds every acked message once, gap-free.
	reader := mustDial(t, c.procs[1].addr)
	reader.hello("reader")
	reader.request(map[string]any{"type": "join", "room": "busy"})
	seen := map[string]float64{}
	after := float64(0)
	for readUntil := time.Now().Add(frameWait); after < maxAcked; {
		if time.Now().After(readUntil) {
			t.Fatalf("history ends at %v, acked up to %v", after, maxAcked)
		}
		page := reader.request(map[string]any{"type": "history", "room": "busy", "after": after, "limit": 200})
		msgs, _ := page["msgs"].([]any)
		for _, m := range msgs {
			mm := m.(map[string]any)
			off := mm["offset"].(float64)
			if off != after+1 {
				t.Fatalf("gap: offset %v after %v", off, after)
			}
			after = off
			if cid, ok := mm["text"].(string); ok && cid != "" { // the text is the cid
				if _, dup := seen[cid]; dup {
					t.Fatalf("%s stored twice", cid)
				}
				seen[cid] = off
			}
		}
	}
	for cid, off := range acked {
		if seen[cid] != off {
			t.Fatalf("%s acked at %v, stored at %v", cid, off, seen[cid])
		}
	}
	// Each survivor gets every offset up to the last acked, once, in order
	// of the stream (its own as acks, arriving ahead of the feed).
	for i, s := range senders {
		missing := func() float64 {
			for off := float64(1); off <= maxAcked; off++ {
				if !got[i][off] {
					return off
				}
			}
			return 0
		}
		for off := missing(); off != 0; off = missing() {
			f := s.next() // fails the test after frameWait: offset off never came
			switch f["type"] {
			case "ack":
				got[i][f["offset"].(float64)] = true
			case "message", "batch":
				for _, m := range messagesOf(f) {
					o := m["offset"].(float64)
					if pushed[i][o] {
						t.Fatalf("sender %d was pushed offset %v twice", i, o)
					}
					pushed[i][o], got[i][o] = true, true
				}
			}
		}
	}
}
