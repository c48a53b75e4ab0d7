package app_test

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/transport/bus"
)

// Split tests: one node of three is cut off from the bus or from the store.
// It must stop acking (answer unavailable) rather than diverge; the other
// nodes carry on with the room; once the cut heals, the node serves again,
// and nothing acked anywhere is lost, duplicated or told twice.

// TestClusterNodeCutOffFromNATSStopsAcking: three nodes on one external
// NATS server, node 1 (the room's owner) reaching it through a proxy that
// the test cuts.
func TestClusterNodeCutOffFromNATSStopsAcking(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes and PostgreSQL")
	}
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{Name: "split", NoCluster: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	natsAddr, err := url.Parse(nats.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, natsAddr.Host)
	c := startNodes(t, 3, func(i int, store string) []string {
		u := nats.ClientURL()
		if i == 0 {
			u = "nats://" + proxy.addr()
		}
		return []string{"--store", store, "--nats", u}
	})
	testCutOff(t, c, proxy)
}

// TestClusterNodeCutOffFromPostgresStopsAcking: three nodes on embedded
// NATS routes, node 1 (the room's owner) reaching PostgreSQL through a
// proxy that the test cuts.
func TestClusterNodeCutOffFromPostgresStopsAcking(t *testing.T) {
	var proxy *tcpProxy
	var routes []string
	for i := range 3 {
		host := nodeHost(i)
		routes = append(routes, fmt.Sprintf("%s:%d", host, freePort(t, host)))
	}
	c := startNodes(t, 3, func(i int, store string) []string {
		if i == 0 {
			u, err := url.Parse(store)
			if err != nil {
				t.Fatal(err)
			}
			proxy = startProxy(t, u.Host)
			u.Host = proxy.addr()
			store = u.String()
		}
		return []string{"--store", store, "--cluster-listen", routes[i], "--cluster-peers", joinComma(routes)}
	})
	testCutOff(t, c, proxy)
}

// testCutOff runs a room owned by node 1 with members sending on every
// node, cuts node 1 off through proxy, and heals it.
func testCutOff(t *testing.T, c *clusterNodes, proxy *tcpProxy) {
	t.Helper()
	clients := make([]*rawClient, 3)
	for i, p := range c.procs {
		clients[i] = mustHello(t, p.addr, "u"+strconv.Itoa(i))
		if j := clients[i].request(map[string]any{"type": "join", "room": "split"}); j["type"] != "joined" {
			t.Fatalf("join on node %d = %v", i+1, j) // node 1 first: it owns the room
		}
	}
	load := newRoomLoad(t, "split", clients)
	load.start(4)
	load.run("40 acks", func() bool { return len(load.acked) >= 40 })
	for _, p := range c.procs[1:] {
		if l := metricLine(t, p.addr, "troupe_rooms_relayed"); l != "troupe_rooms_relayed 1" {
			// Node 1's lease lapsed under load and another node owns the
			// room: cutting node 1 off would test nothing.
			t.Skipf("%s: %s before the cut, want 1 (node 1 owning the room)", p.addr, l)
		}
	}

	proxy.cutOff()
	load.markNow()
	// The other nodes claim the room once node 1's lease is gone.
	load.run("the room served by the other nodes", func() bool {
		return load.ackedAfter != 0 && load.acks[1] > 0 && load.acks[2] > 0
	})
	replaced := load.ackedAfter
	// By then node 1 knows it is cut off: a new send there is refused, and
	// no send made from now on is acked while the cut lasts.
	load.cutClient, load.cutSince = 0, time.Now()
	refused := load.refused[0]
	load.send(0)
	load.run("node 1 refuses a send", func() bool { return load.refused[0] > refused })
	before := load.acks[1] + load.acks[2]
	load.run("50 more acks on the other nodes", func() bool { return load.acks[1]+load.acks[2] >= before+50 })

	proxy.heal()
	load.cutSince = time.Time{}
	woke := load.acks[0]
	load.run("node 1 serves again", func() bool { return load.acks[0] >= woke+20 })
	t.Logf("re-placed %v after the cut; node 1 refused %d sends while cut off; %d acked", replaced, load.refused[0], len(load.acked))
	load.verify(mustHello(t, c.procs[2].addr, "reader"))
}
