package bench

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestReceiverCounts: message and batch frames are consumed and each of
// their timestamped messages counted; other pushes are left to the client.
func TestReceiverCounts(t *testing.T) {
	sent := time.Now().Add(-3 * time.Millisecond).UnixNano()
	msg := func(text string) string {
		return fmt.Sprintf(`{"id":"m_1","offset":1,"ts":1,"from":{"id":"u=1","name":"a=b"},"kind":"text","text":%q,"data":null}`, text)
	}
	ts := fmt.Sprintf("t=%d;xxx=", sent)
	var rc receiver
	for _, c := range []struct {
		frame      string
		consumed   bool
		deliveries int64
	}{
		{`{"type":"message","room":"fanout-0","msg":` + msg(ts) + `}`, true, 1},
		{`{"type":"batch","room":"fanout-0","msgs":[` + msg(ts) + `,` + msg("no stamp") + `,` + msg(ts) + `]}`, true, 2},
		{`{"type":"message","room":"r","msg":` + msg("t=12x;") + `}`, true, 0},
		{`{"type":"presence_diff","room":"fanout-0","joins":[{"id":"u=1","name":"t=1;"}],"leaves":[]}`, false, 0},
		{`{"type":"typing","room":"fanout-0","on":true}`, false, 0},
	} {
		before := rc.count()
		if got := rc.onRawPush([]byte(c.frame)); got != c.consumed {
			t.Errorf("onRawPush(%s) = %v, want %v", c.frame, got, c.consumed)
		}
		if n := rc.count() - before; n != c.deliveries {
			t.Errorf("%s: counted %d deliveries, want %d", c.frame, n, c.deliveries)
		}
	}
	if rc.cross.count.Load() != 0 {
		t.Errorf("%d cross-node deliveries from frames that name no node", rc.cross.count.Load())
	}
	if p50 := rc.same.quantile(0.5); p50 < 3*time.Millisecond || p50 > time.Second {
		t.Errorf("latency p50 %s, want about 3ms or a little more", p50)
	}
}

// TestReceiverSplitsByNode: a message whose "n=<node>;" names the
// receiver's node is a same-node delivery, one naming another node a
// cross-node delivery; in a batch each message counts on its own.
func TestReceiverSplitsByNode(t *testing.T) {
	msg := func(text string) string {
		return fmt.Sprintf(`{"id":"m_1","offset":1,"ts":1,"from":{"id":"u1","name":"n=2;"},"kind":"text","text":%q,"data":null}`, text)
	}
	stamp := func(ago time.Duration, node string) string {
		return fmt.Sprintf("t=%d;%sxxxx", time.Now().Add(-ago).UnixNano(), node)
	}
	rc := receiver{node: 1}
	for _, f := range []string{
		`{"type":"message","room":"fanout-0","msg":` + msg(stamp(time.Millisecond, "n=1;")) + `}`,
		`{"type":"message","room":"fanout-0","msg":` + msg(stamp(50*time.Millisecond, "n=0;")) + `}`,
		`{"type":"message","room":"fanout-0","msg":` + msg(stamp(time.Millisecond, "n=;")) + `}`,
		`{"type":"batch","room":"fanout-0","msgs":[` + msg(stamp(50*time.Millisecond, "n=12;")) + `,` + msg(stamp(time.Millisecond, "")) + `,` + msg(stamp(50*time.Millisecond, "n=2;")) + `]}`,
	} {
		if !rc.onRawPush([]byte(f)) {
			t.Fatalf("onRawPush(%s) left the frame to the client", f)
		}
	}
	if same, cross := rc.same.count.Load(), rc.cross.count.Load(); same != 3 || cross != 3 {
		t.Fatalf("same node %d, cross node %d deliveries; want 3 and 3", same, cross)
	}
	if s, c := rc.same.quantile(0.99), rc.cross.quantile(0.5); s >= 40*time.Millisecond || c < 48*time.Millisecond {
		t.Errorf("same-node p99 %s (want about 1 ms), cross-node p50 %s (want about 50 ms)", s, c)
	}
	rs := receivers{&rc, {node: 0}}
	rs[1].cross.record(time.Second)
	if n, all := rs.count(), rs.merged(true, true); n != 7 || all.count.Load() != 7 || all.max.Load() != int64(time.Second) {
		t.Errorf("merged: %d deliveries, histogram of %d, max %d; want 7, 7, 1s", n, all.count.Load(), all.max.Load())
	}
	if n := rs.merged(false, true).count.Load(); n != 4 {
		t.Errorf("merged cross-node histogram of %d, want 4", n)
	}
}

// TestPlanFanout: members are spread over the nodes room by room, and the
// publishers with them or all on the node asked for.
func TestPlanFanout(t *testing.T) {
	o := Options{URLs: []string{"a", "b", "c"}, Rooms: 4, Members: 5, Publishers: 6}
	p, err := planFanout(o)
	if err != nil {
		t.Fatal(err)
	}
	for r := range o.Rooms {
		sum := 0
		for j := range 3 {
			on := 0
			for m := range o.Members {
				if p.node(r, m) == j {
					on++
				}
			}
			if on != p.onNode(r, j) || on < 1 || on > 2 {
				t.Errorf("room %d: %d members on node %d, onNode says %d; want 1 or 2", r, on, j, p.onNode(r, j))
			}
			sum += on
		}
		if sum != o.Members {
			t.Errorf("room %d: %d members placed, want %d", r, sum, o.Members)
		}
	}
	// Spread: publisher i is member i div rooms of room i mod rooms, so the
	// rooms' first publishers rotate over the nodes.
	if want := []int{0, 0, 0, 0, 1, 1}; !reflect.DeepEqual(p.pubMember, want) {
		t.Errorf("spread publishers' members %v, want %v", p.pubMember, want)
	}
	o.PublisherNode = 2
	if p, err = planFanout(o); err != nil {
		t.Fatal(err)
	}
	seen := map[[2]int]bool{}
	for i, m := range p.pubMember {
		r := i % o.Rooms
		if p.node(r, m) != 1 || m >= o.Members {
			t.Errorf("publisher %d: member %d of room %d is on node %d, want node 1 (the 2nd)", i, m, r, p.node(r, m))
		}
		if seen[[2]int{r, m}] {
			t.Errorf("publisher %d: member %d of room %d publishes twice", i, m, r)
		}
		seen[[2]int{r, m}] = true
	}
	// One member per room cannot be on every node.
	o.Members, o.PublisherNode = 1, 3
	if _, err := planFanout(o); err == nil || !strings.Contains(err.Error(), "no member") {
		t.Errorf("publisher node without members: %v", err)
	}
	// One node: everything on it, as before.
	p, err = planFanout(Options{Rooms: 2, Members: 3, Publishers: 10, URL: "u"})
	if err != nil || len(p.pubMember) != 6 || p.node(1, 2) != 0 || p.onNode(1, 0) != 3 {
		t.Errorf("one node: %+v, %v", p, err)
	}
}

// TestFanoutStringCluster: a cluster run prints the same/cross split and
// every node's figures; a single-node run prints as before.
func TestFanoutStringCluster(t *testing.T) {
	r := FanoutResult{Rooms: 1, Members: 9, Publishers: 1, Nodes: 3, PublisherNode: "spread",
		SameNode:  LatencySplit{Deliveries: 20, Expected: 20, LatencyP50Ms: 1, LatencyP99Ms: 2},
		CrossNode: LatencySplit{Deliveries: 58, Expected: 60, Lost: 2, LatencyP50Ms: 1.5, LatencyP99Ms: 4},
		ServerNodes: []NodeResult{{URL: "http://127.0.0.2:1", Members: 3, Publishers: 1, RoomsOwned: 1},
			{URL: "http://127.0.0.3:1", Members: 3, RoomsRelayed: 1}, {URL: "http://127.0.0.4:1", Members: 3, RoomsRelayed: 1}}}
	out := r.String()
	for _, want := range []string{"over 3 nodes", "spread over the nodes", "same node", "cross node", "58 of 60 expected, 2 lost",
		"p50 +0.50 ms  p99 +2.00 ms", "server (3 nodes)", "node 3", "http://127.0.0.4:1", "owns 1 room(s), relays 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	r.Nodes, r.ServerNodes = 1, nil
	if out := r.String(); strings.Contains(out, "node") || !strings.Contains(out, "  server  ") {
		t.Errorf("single node output:\n%s", out)
	}
}
