package api

import (
	"net/http"

	"github.com/troupe-chat/troupe/actors"
)

// maxTreeUsers bounds the user ids the actor tree lists.
const maxTreeUsers = 200

// treeRoom is an active room actor in the actor tree, with the node that
// owns it and whether this node relays it.
type treeRoom struct {
	roomJSON
	Mailbox int    `json:"mailbox"`
	Owner   string `json:"owner"`
	Relay   bool   `json:"relay"`
}

// treeShard is a heartbeat shard and the connection actors it supervises.
type treeShard struct {
	Shard       int `json:"shard"`
	Connections int `json:"connections"`
}

// treeNode is a live node of the cluster; Self marks this one.
type treeNode struct {
	ID   string `json:"id"`
	Self bool   `json:"self"`
}

// tree answers the live actor tree for the admin dashboard: this node and
// the live nodes of its cluster; active rooms with members, offsets,
// mailbox depth, restarts and their owner node; users with a live actor;
// welcomed connections per heartbeat shard.
func (a *API) tree(w http.ResponseWriter, _ *http.Request) {
	rooms := a.engine.Rooms()
	out := struct {
		Node    string     `json:"node"`
		Cluster bool       `json:"cluster"`
		Nodes   []treeNode `json:"nodes"`
		Rooms   []treeRoom `json:"rooms"`
		Users   struct {
			Count int      `json:"count"`
			IDs   []string `json:"ids"`
		} `json:"users"`
		Shards      []treeShard `json:"shards"`
		Connections int         `json:"connections"`
	}{Node: a.opts.Node, Cluster: a.opts.LiveNodes != nil, Nodes: a.treeNodes(), Rooms: make([]treeRoom, 0, len(rooms))}
	for _, s := range rooms {
		out.Rooms = append(out.Rooms, a.treeRoom(s))
	}
	users := a.engine.Users()
	out.Users.Count = len(users)
	out.Users.IDs = users[:min(len(users), maxTreeUsers)]
	for i, n := range a.engine.ShardConnections() {
		out.Shards = append(out.Shards, treeShard{Shard: i, Connections: n})
		out.Connections += n
	}
	writeJSON(w, http.StatusOK, out)
}

// treeNodes lists the live nodes, sorted, this one marked: on a single node
// just this one; in a cluster the lease table's, which leaves this node out
// while it does not hold its lease.
func (a *API) treeNodes() []treeNode {
	if a.opts.LiveNodes == nil {
		return []treeNode{{ID: a.opts.Node, Self: true}}
	}
	live := a.opts.LiveNodes()
	out := make([]treeNode, 0, len(live))
	for _, id := range live {
		out = append(out, treeNode{ID: id, Self: id == a.opts.Node})
	}
	return out
}

// treeRoom is s as the tree lists it. On a single node this node owns every
// room; in a cluster the owner is the one the room last learnt, "" while
// its first load is under way.
func (a *API) treeRoom(s actors.RoomStats) treeRoom {
	owner := s.Owner
	if owner == "" && a.opts.LiveNodes == nil {
		owner = a.opts.Node
	}
	return treeRoom{roomJSON: toJSON(s), Mailbox: s.Mailbox, Owner: owner, Relay: s.Relay}
}
