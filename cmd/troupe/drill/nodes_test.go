package drill

import (
	"context"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/actors/drills"
)

func TestParseNodesAndPIDs(t *testing.T) {
	nodes, err := parseNodes(" http://127.0.0.2:8080/, ws://localhost:9 ,,")
	if err != nil || !reflect.DeepEqual(nodes, []string{"http://127.0.0.2:8080", "ws://localhost:9"}) {
		t.Fatalf("parseNodes = %v, %v", nodes, err)
	}
	for _, bad := range []string{"ftp://127.0.0.1", "http://", "127.0.0.1:80", "http://[::1"} {
		if _, err := parseNodes(bad); err == nil {
			t.Errorf("parseNodes(%q) took it", bad)
		}
	}
	pids, err := parsePIDs("12, 34,")
	if err != nil || !reflect.DeepEqual(pids, []int{12, 34}) {
		t.Fatalf("parsePIDs = %v, %v", pids, err)
	}
	if _, err := parsePIDs("12,abc"); err == nil {
		t.Error("parsePIDs took abc")
	}
	for base, want := range map[string]string{"http://h": "h:80", "wss://h": "h:443", "http://[::1]:7": "[::1]:7"} {
		if got, err := dialAddr(base); err != nil || got != want {
			t.Errorf("dialAddr(%q) = %q, %v; want %q", base, got, err, want)
		}
	}
}

func TestNodeFlagsAreChecked(t *testing.T) {
	local := []string{"http://127.0.0.2:1", "http://127.0.0.3:1"}
	if err := checkNodeFlags(local, []int{100, 101}); err != nil {
		t.Fatalf("good flags: %v", err)
	}
	for _, c := range []struct {
		nodes []string
		pids  []int
		says  string
	}{
		{local[:1], []int{100}, "at least two nodes"},
		{[]string{"http://10.0.0.1:1", "http://localhost:2"}, []int{100, 101}, "not a loopback"},
		{local, []int{100}, "one pid per node"},
		{local, []int{100, 100}, "given twice"},
		{local, []int{0, -1}, "above 1"},
	} {
		if err := checkNodeFlags(c.nodes, c.pids); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%v %v: err %v, want %q", c.nodes, c.pids, err, c.says)
		}
	}
	o := Options{Nodes: local, PIDs: []int{100, 101}, Kinds: []drills.Kind{NodeKill, NodePause}, Clients: 4, Rooms: 2,
		Duration: time.Second, Rate: 1, Settle: time.Second, Crashes: 1, Pause: time.Second}
	if err := o.validate(); err == nil || !strings.Contains(err.Error(), "one node drill per run") {
		t.Errorf("two node drills: %v", err)
	}
	o.Kinds = []drills.Kind{NodeKill}
	if err := o.validate(); err != nil {
		t.Errorf("node-kill without an API key: %v", err)
	}
	o.Kinds, o.Pause = []drills.Kind{NodePause}, 0
	if err := o.validate(); err == nil || !strings.Contains(err.Error(), "--pause") {
		t.Errorf("node-pause without a pause: %v", err)
	}
	o.Kinds = []drills.Kind{drills.RoomCrash}
	if err := o.validate(); err == nil || !strings.Contains(err.Error(), "--pids is for") || !strings.Contains(err.Error(), "--api-key") {
		t.Errorf("room-crash with pids and no key: %v", err)
	}
}

func TestCheckPIDRefusesWhatItMustNotSignal(t *testing.T) {
	for _, pid := range []int{-1, 0, 1, os.Getpid()} {
		if err := checkPID(pid); err == nil {
			t.Errorf("checkPID(%d) took it", pid)
		}
	}
	if err := checkPID(os.Getppid()); err != nil {
		t.Errorf("checkPID(parent): %v", err)
	}
	if err := checkPID(1 << 30); err == nil || !strings.Contains(err.Error(), "no such process") {
		t.Errorf("checkPID(no such pid) = %v", err)
	}
}

func TestPlacementSpreadsRoomsAndClients(t *testing.T) {
	const rooms, nodes, clients = 4, 3, 12
	perRoom := map[int]map[int]bool{}
	perNode := map[int]int{}
	for i := range clients {
		r, n := i%rooms, homeNode(i, rooms, nodes)
		if perRoom[r] == nil {
			perRoom[r] = map[int]bool{}
		}
		perRoom[r][n] = true
		perNode[n]++
		if i < rooms && n != r%nodes {
			t.Errorf("room %d's first member is on node %d, not %d", r, n, r%nodes)
		}
	}
	for r, on := range perRoom {
		if len(on) != nodes {
			t.Errorf("room %d has members on %d nodes, want %d", r, len(on), nodes)
		}
	}
	for n, c := range perNode {
		if c != clients/nodes {
			t.Errorf("node %d has %d clients, want %d", n, c, clients/nodes)
		}
	}
	if got := ownedRooms("x", rooms, nodes, 0); !reflect.DeepEqual(got, []string{"drill-x-r0", "drill-x-r3"}) {
		t.Errorf("node 0 owns %v", got)
	}
	// Fewer rooms than nodes: a room still has a member on each node.
	on := map[int]bool{}
	for i := 0; i < 6; i += 2 {
		on[homeNode(i, 2, 3)] = true
	}
	if len(on) != 3 {
		t.Errorf("room 0 of 2 on 3 nodes: nodes %v", on)
	}
}

func TestFaultTimes(t *testing.T) {
	f := newFaultTimes()
	t0 := time.Now()
	f.acked("r0", t0, t0.Add(time.Second)) // before the signal: nothing to measure
	f.signalled(t0, 0, []string{"r0", "r1"}, []string{"a", "b"})
	f.acked("r0", t0.Add(-time.Millisecond), t0.Add(100*time.Millisecond)) // sent before the signal
	f.acked("r0", t0.Add(time.Millisecond), t0.Add(3*time.Second))
	f.acked("r0", t0.Add(time.Millisecond), t0.Add(4*time.Second)) // not the first
	f.acked("r9", t0.Add(time.Millisecond), t0.Add(time.Second))   // not the node's room
	f.rejoined("a", 0, t0.Add(time.Second))                        // back on the same node
	f.rejoined("a", 1, t0.Add(2*time.Second))
	f.rejoined("c", 1, t0.Add(time.Second)) // was not on the node
	rep, rec, unplaced, stranded := f.summary()
	if rep.Count != 1 || rep.Max != 3000 || rec.Count != 1 || rec.Max != 2000 || unplaced != 1 || stranded != 1 {
		t.Fatalf("summary = %+v %+v unplaced %d stranded %d", rep, rec, unplaced, stranded)
	}
}

func TestNodeSetFailsOverAndClosesConnectionsOfADownNode(t *testing.T) {
	var ls []net.Listener
	var urls []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		ls = append(ls, l)
		urls = append(urls, "http://"+l.Addr().String())
	}
	s, err := newNodeSet(urls)
	if err != nil {
		t.Fatal(err)
	}
	var downAt []int
	s.onDown(func(n int, _ time.Time) { downAt = append(downAt, n) })
	var on int
	dial := s.dialer(0, 0, func(n int) { on = n })
	c, err := dial(context.Background(), "tcp", "ignored:1")
	if err != nil || on != 0 {
		t.Fatalf("dial = %v on node %d", err, on)
	}
	for range checkFall {
		s.checked(0, false)
	}
	if !reflect.DeepEqual(downAt, []int{0}) || s.upCount() != 1 {
		t.Fatalf("downs %v, up %d", downAt, s.upCount())
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection to the down node is still open")
	}
	if _, err := dial(context.Background(), "tcp", "ignored:1"); err != nil || on != 1 {
		t.Fatalf("failover dial = %v on node %d", err, on)
	}
	// Node 1 dies too: the dial still tries node 0, which is down but listening.
	ls[1].Close()
	if _, err := dial(context.Background(), "tcp", "ignored:1"); err != nil || on != 0 {
		t.Fatalf("last-resort dial = %v on node %d", err, on)
	}
	for range checkRise {
		s.checked(0, true)
	}
	if s.upCount() != 2 {
		t.Fatalf("node 0 did not come back: up %d", s.upCount())
	}
}

// TestOrderSpreadsFailover checks that the clients of a node that is down
// fail over to all the other nodes, by their spread, not all to the next.
func TestOrderSpreadsFailover(t *testing.T) {
	s, err := newNodeSet([]string{"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"})
	if err != nil {
		t.Fatal(err)
	}
	for spread, want := range [][]int{{0, 1, 2}, {0, 2, 1}, {0, 1, 2}} {
		if got := s.order(0, spread); !reflect.DeepEqual(got, want) {
			t.Errorf("order(0, %d) = %v, want %v", spread, got, want)
		}
	}
	for range checkFall {
		s.checked(0, false)
	}
	firsts := map[int]int{}
	for spread := range 10 {
		got := s.order(0, spread)
		if got[len(got)-1] != 0 {
			t.Errorf("order(0, %d) = %v: the node down is not last", spread, got)
		}
		firsts[got[0]]++
	}
	if firsts[1] != 5 || firsts[2] != 5 {
		t.Errorf("10 clients of the node down would go first to %v, want 5 to each other node", firsts)
	}
	if got := s.order(1, 1); !reflect.DeepEqual(got, []int{1, 2, 0}) {
		t.Errorf("order(1, 1) = %v, want [1 2 0]", got)
	}
}
