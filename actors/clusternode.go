package actors

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// This file holds the engine's node-wide part in a cluster: answering the
// sends other nodes forward to the rooms this node owns, delivering to this
// node's connections of a user on behalf of other nodes, fanning a user
// delivery out to every node, and hearing which nodes are alive.

// userDeliveryTimeout bounds a cluster-wide user delivery: a node that holds
// a live lease but does not answer (paused, cut off) is not waited for longer.
const userDeliveryTimeout = 2 * time.Second

// serveCluster starts answering other nodes.
func (e *Engine) serveCluster() error {
	c := e.env.cluster
	stopNode, err := c.ServeNode(e.serveRemoteSend)
	if err != nil {
		return fmt.Errorf("actors: serve forwarded sends: %w", err)
	}
	stopUsers, err := c.ServeUsers(e.env.deliverLocal)
	if err != nil {
		stopNode()
		return fmt.Errorf("actors: serve user deliveries: %w", err)
	}
	e.unserve = []func(){stopNode, stopUsers}
	return nil
}

// serveRemoteSend hands a send a relay forwarded to the room here, which
// stores it if this node owns the room and forwards it on if not.
func (e *Engine) serveRemoteSend(s RemoteSend, respond func(RemoteSendResult)) {
	if e.draining.Load() {
		respond(RemoteSendResult{Code: CodeUnavailable, Message: "the owner is shutting down; retry"})
		return
	}
	e.env.registry.sendRoom(s.Room, &publish{
		From: s.From, Kind: s.Kind, Text: s.Text, Data: s.Data, ReplyTo: s.ReplyTo, CID: s.CID,
		Sender: s.Sender, Remote: respond, Received: time.Now().UnixNano(),
	})
}

// deliverLocal does a user delivery to this node's connections of the user
// and returns how many it reached.
func (e *env) deliverLocal(d UserDelivery) int {
	reply := make(chan int, 1)
	var msg any
	switch d.Kind {
	case DeliverDirect:
		msg = &notifyUser{Frame: d.Direct, Reply: reply}
	case DeliverNotify:
		msg = &notifyUser{Frame: d.Notify, Reply: reply}
	case DeliverDisconnect:
		msg = &kick{Code: d.Code, Reason: d.Reason, Reply: reply}
	default:
		return 0
	}
	if !e.registry.sendLiveUser(d.User, msg) {
		return 0
	}
	select {
	case n := <-reply:
		return n
	case <-time.After(userDeliveryTimeout):
		return 0
	}
}

// deliverEverywhere does a user delivery on this node and every other one
// and returns how many connections it reached in all.
func (e *env) deliverEverywhere(ctx context.Context, d UserDelivery) int {
	n := e.deliverLocal(d)
	if e.cluster == nil {
		return n
	}
	ctx, cancel := context.WithTimeout(ctx, userDeliveryTimeout)
	defer cancel()
	remote, err := e.cluster.DeliverToUsers(ctx, d)
	if err != nil {
		e.log.Warn("cluster user delivery incomplete", "user", d.User, "err", err)
	}
	return n + remote
}

// SetLiveNodes tells the engine which nodes of the cluster are alive (this
// one included), as the lease table says: rooms forget the presence of
// members on nodes that are gone.
func (e *Engine) SetLiveNodes(live []string) {
	live = slices.Clone(live)
	for _, pid := range e.env.registry.roomPIDs() {
		e.env.root.Send(pid, &nodesLive{Nodes: live})
	}
}
