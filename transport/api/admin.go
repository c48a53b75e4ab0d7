package api

import (
	"net/http"
)

// maxTreeUsers bounds the user ids the actor tree lists.
const maxTreeUsers = 200

// treeRoom is an active room actor in the actor tree.
type treeRoom struct {
	roomJSON
	Mailbox int `json:"mailbox"`
}

// treeShard is a heartbeat shard and the connection actors it supervises.
type treeShard struct {
	Shard       int `json:"shard"`
	Connections int `json:"connections"`
}

// tree answers the live actor tree for the admin dashboard: active rooms
// with members, offsets, mailbox depth and restarts; users with a live
// actor; welcomed connections per heartbeat shard.
func (a *API) tree(w http.ResponseWriter, _ *http.Request) {
	rooms := a.engine.Rooms()
	out := struct {
		Rooms []treeRoom `json:"rooms"`
		Users struct {
			Count int      `json:"count"`
			IDs   []string `json:"ids"`
		} `json:"users"`
		Shards      []treeShard `json:"shards"`
		Connections int         `json:"connections"`
	}{Rooms: make([]treeRoom, 0, len(rooms))}
	for _, s := range rooms {
		out.Rooms = append(out.Rooms, treeRoom{roomJSON: toJSON(s), Mailbox: s.Mailbox})
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
