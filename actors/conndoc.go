package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-chat/troupe/persistence"
)

// This file holds a connection's document frames. Each is a data frame (the
// caller applied the rate limit) that needs membership of its room.

// doc routes one document frame to its room.
func (c *connActor) doc(ctx actor.Context, m Command) {
	switch m := m.(type) {
	case DocUpdate:
		if c.env.quiescing.Load() {
			c.fail(m.ID, CodeUnavailable, "the server is shutting down; send again after reconnecting")
			return
		}
		if pid := c.memberOf(m.ID, m.Room, "updating its document"); pid != nil {
			ctx.Send(pid, &publish{Conn: c.self, Peer: c.peer, ReqID: m.ID, From: c.user, Kind: persistence.KindDoc,
				Data: m.Data, CID: m.CID, Received: time.Now().UnixNano()})
		}
	case DocSync:
		if pid := c.memberOf(m.ID, m.Room, "syncing its document"); pid != nil {
			limit := m.Limit
			if limit <= 0 {
				limit = DocSyncDefault
			}
			ctx.Send(pid, &docSyncOf{Conn: c.self, Peer: c.peer, ID: m.ID, After: m.After, Limit: min(limit, DocSyncMax)})
		}
	case DocSnapshot:
		if pid := c.memberOf(m.ID, m.Room, "storing a snapshot of its document"); pid != nil {
			ctx.Send(pid, &docSnapshotOf{Conn: c.self, Peer: c.peer, ID: m.ID, Offset: m.Offset, Data: m.Data})
		}
	}
}
