package postgres

import (
	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/groupcommit"
)

// Appends of many rooms share one transaction, and so one WAL flush: a
// commit costs a round trip and an fsync whatever it holds, so a transaction
// per room would cap the server at a few thousand room batches per second.
// Append queues its batch on a groupcommit.Queue (see there for how groups
// form and leaders hand over).
//
// Several leaders (committers, by default half the pool) may commit at once,
// each on its own pooled connection: PostgreSQL flushes the WAL of
// concurrent commits together, so a second leader's commit overlaps the
// first's fsync instead of queueing behind it, while the rest of the pool
// stays free for reads and claims. Rooms never deadlock across groups: each
// group locks its rooms' rows in name order. See commitGroup for how one
// room's failure is kept from the others.

// roomBatch is one Append's arguments, as queued.
type roomBatch struct {
	room  string
	claim persistence.Claim
	msgs  []persistence.Message
}

// appendReq is one queued Append.
type appendReq = groupcommit.Request[roomBatch]
