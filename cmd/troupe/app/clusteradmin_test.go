package app_test

import (
	"strings"
	"testing"
)

// Admin tree tests: the nodes of the cluster and which node owns or relays
// each room, as GET /api/admin/tree tells the admin dashboard.

// adminTree reads the admin tree of the node at addr.
func adminTree(t *testing.T, addr string) map[string]any {
	t.Helper()
	code, tree := apiCall(t, addr, "k", "GET", "/api/admin/tree", "")
	if code != 200 {
		t.Fatalf("tree of %s: %d %v", addr, code, tree)
	}
	return tree
}

// treeNodeList is the tree's "nodes" as "id,id*,id" in their order, this
// node marked with "*".
func treeNodeList(t *testing.T, tree map[string]any) string {
	t.Helper()
	nodes, ok := tree["nodes"].([]any)
	if !ok {
		t.Fatalf("tree without a nodes list: %v", tree)
	}
	var ids []string
	for _, n := range nodes {
		node := n.(map[string]any)
		id, _ := node["id"].(string)
		if self, ok := node["self"].(bool); !ok {
			t.Fatalf("node without self: %v", node)
		} else if self {
			id += "*"
		}
		ids = append(ids, id)
	}
	return strings.Join(ids, ",")
}

// treeRoomNamed is the tree's entry of room, or nil.
func treeRoomNamed(t *testing.T, tree map[string]any, room string) map[string]any {
	t.Helper()
	rooms, ok := tree["rooms"].([]any)
	if !ok {
		t.Fatalf("tree without a rooms list: %v", tree)
	}
	for _, r := range rooms {
		if r := r.(map[string]any); r["room"] == room {
			return r
		}
	}
	return nil
}

// checkTreeRoom fails unless the tree lists room owned by owner, relayed
// here or not, with the fields the tree had before nodes.
func checkTreeRoom(t *testing.T, what string, tree map[string]any, room, owner string, relay bool) {
	t.Helper()
	r := treeRoomNamed(t, tree, room)
	if r == nil {
		t.Fatalf("%s: no room %q in %v", what, room, tree["rooms"])
	}
	if r["owner"] != owner || r["relay"] != relay {
		t.Fatalf("%s: room %q has owner %v relay %v, want %q %v (%v)", what, room, r["owner"], r["relay"], owner, relay, r)
	}
	for _, field := range []string{"members", "connections", "offset", "epoch", "private", "restarts", "mailbox"} {
		if _, ok := r[field]; !ok {
			t.Fatalf("%s: room %q lost field %q: %v", what, room, field, r)
		}
	}
	if r["connections"] != float64(1) {
		t.Fatalf("%s: room %q has %v local connections, want 1", what, room, r["connections"])
	}
}

// checkTreeNode fails unless the tree names this node and lists nodes (as
// treeNodeList gives them) in a cluster or not.
func checkTreeNode(t *testing.T, what string, tree map[string]any, node, nodes string, cluster bool) {
	t.Helper()
	if tree["node"] != node || tree["cluster"] != cluster {
		t.Fatalf("%s: node %v cluster %v, want %q %v", what, tree["node"], tree["cluster"], node, cluster)
	}
	if got := treeNodeList(t, tree); got != nodes {
		t.Fatalf("%s: nodes %q, want %q", what, got, nodes)
	}
}

// TestClusterAdminTreeShowsNodesOwnersAndRelays: a room joined on node 1
// and then on node 2 is owned by n1; node 2's tree lists the three live
// nodes, itself marked, and the room as a relay of n1; node 1's lists it as
// its own; node 3, without members, runs no room actor for it.
func TestClusterAdminTreeShowsNodesOwnersAndRelays(t *testing.T) {
	c := startCluster(t, 3)
	for i, name := range []string{"ann", "bob"} {
		cl := mustDial(t, c.procs[i].addr)
		cl.hello(name)
		if j := cl.request(map[string]any{"type": "join", "room": "dash"}); j["type"] != "joined" {
			t.Fatalf("%s's join on node %d = %v", name, i+1, j)
		}
	}
	// The join's answer comes after the room published its role, so the
	// trees need no waiting; the lease tables listed three nodes before
	// startCluster returned.
	tree := adminTree(t, c.procs[1].addr)
	checkTreeNode(t, "node 2", tree, "n2", "n1,n2*,n3", true)
	checkTreeRoom(t, "node 2", tree, "dash", "n1", true)

	tree = adminTree(t, c.procs[0].addr)
	checkTreeNode(t, "node 1", tree, "n1", "n1*,n2,n3", true)
	checkTreeRoom(t, "node 1", tree, "dash", "n1", false)

	tree = adminTree(t, c.procs[2].addr)
	checkTreeNode(t, "node 3", tree, "n3", "n1,n2,n3*", true)
	if r := treeRoomNamed(t, tree, "dash"); r != nil {
		t.Fatalf("node 3 has no member in dash, yet its tree lists %v", r)
	}
}

// TestAdminTreeSingleNode: off a cluster the tree lists this node as the
// only one and as the owner of every room, none relayed.
func TestAdminTreeSingleNode(t *testing.T) {
	a := startServer(t, "--api-key", "k", "--node-id", "solo")
	addr := a.Addr.String()
	joinedClient(t, addr, "one", "alone")
	tree := adminTree(t, addr)
	checkTreeNode(t, "single node", tree, "solo", "solo*", false)
	checkTreeRoom(t, "single node", tree, "alone", "solo", false)
}
