package actors

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// This file holds a room's part in a cluster. Every node with members in a
// room runs its room actor; one of them, the owner, claimed the room in the
// store (ClaimRoom, a fence token) and is its single writer, as a room of a
// single node is. The others are relays: they keep their own members, forward
// sends to the owner (Cluster.SendToNode, in order, with the client id), and
// deliver the owner's stored batches, which arrive on the room's feed, to
// their members, encoded once per node. The feed is at most once: a relay
// that sees an offset gap, or hears a tail beat ahead of what it delivered,
// reads the missing messages from the store first (backfill), so members get
// every message once, in order. When the owner stops answering, a relay
// claims the room again: the store gives it to the relay once the owner's
// lease has expired, and the room continues its offsets in the same epoch.
// Presence is per node: every node publishes a snapshot of its members on
// the feed, and a user present on any node is present once.

// Cluster timings.
const (
	// tailBeat is how often an owner tells the feed its committed offset.
	tailBeat = time.Second
	// presenceBeats is how many tail beats pass between two snapshots of a
	// node's presence that nothing changed (repairing a lost one).
	presenceBeats = 5
	// forwardTimeout bounds the wait for an owner's answer to a forwarded
	// send. An owner that is paused (SIGSTOP, a stalled VM) keeps its bus
	// routes, so this is how a relay notices it: short, since a send that
	// timed out is forwarded again under its client id, which the owner
	// deduplicates.
	forwardTimeout = time.Second
	// maxForwards bounds how often one send is forwarded before it is
	// answered unavailable (about ten seconds of re-placement).
	maxForwards = 40
	// claimWaitMax bounds the pause between two claims of a room whose
	// owner does not answer but still holds a live lease.
	claimWaitMax = 500 * time.Millisecond
)

// clusterRoom is a room's part in a cluster, kept in its shell across
// incarnations. Only the room actor touches it.
type clusterRoom struct {
	unsubscribe func()
	owner       string // the node that owns the room as this node last learnt; "" before the first load
	relayed     bool   // counted in RoomsRelayed
	remote      map[string]*remotePresence
	// presenceQueued is set while a publishPresence is on its way;
	// published while this node's last snapshot listed members.
	presenceQueued, published bool
	// acked maps the offsets of this node's forwarded sends, acked and not
	// yet delivered, to their connections: a backfill leaves them out of
	// their senders' pushes as the feed's sender tags would.
	acked       map[uint64]string
	backfilling bool
	queued      []RoomEvent // feed events waiting for a backfill
	claimWait   time.Duration
	beats       uint64
	beatGen     uint64 // the incarnation whose beat timer runs
}

// remotePresence is another node's members in the room, from its latest snapshot.
type remotePresence struct {
	seq   uint64
	users map[string]PresenceMember
	// orphaned: the node is gone; its users stay for the session grace
	// (orphanRemote).
	orphaned bool
}

// Cluster messages of a room.
type (
	// feedEvent is an event of the room's feed, from another node.
	feedEvent struct{ ev RoomEvent }
	// forwardDone is the owner's answer to a forwarded send.
	forwardDone struct {
		p   *publish
		res RemoteSendResult
		err error
	}
	// backfilled is a relay's store read of messages the feed skipped.
	backfilled struct {
		gen  uint64
		msgs []persistence.Message
		err  error
	}
	// clusterBeat is a room's periodic tail beat and presence repair.
	clusterBeat struct{ gen uint64 }
	// publishPresence is the room's note to itself to publish its presence
	// snapshot once it has handled what its mailbox holds.
	publishPresence struct{}
	// orphanExpired ends the session grace of a gone node's users (the
	// orphaned snapshot seq).
	orphanExpired struct {
		node string
		seq  uint64
	}
)

// joinFeed subscribes the room to its feed, once per shell.
func (r *roomActor) joinFeed() {
	if r.env.cluster == nil || r.shell.cl != nil {
		return
	}
	cl := &clusterRoom{remote: make(map[string]*remotePresence), acked: make(map[uint64]string)}
	r.shell.cl = cl
	name, registry := r.shell.name, r.env.registry
	unsubscribe, err := r.env.cluster.SubscribeRoom(name, func(ev RoomEvent) {
		registry.sendActiveRoom(name, &feedEvent{ev: ev})
	})
	if err != nil {
		// The bus is down: sends are refused until it is back, and a
		// restart subscribes again.
		r.shell.cl = nil
		panic(errors.Join(errors.New("actors: subscribe to the room feed"), err))
	}
	cl.unsubscribe = unsubscribe
}

// enterRole sets this incarnation's role after a load: owner when the claim
// was won (owner is "" or this node), relay for another owner.
func (r *roomActor) enterRole(owner string) {
	cl := r.shell.cl
	if cl == nil {
		return
	}
	node := r.env.cluster.Node()
	if owner == "" {
		owner = node
	}
	first := cl.owner == ""
	cl.owner = owner
	r.relay = owner != node
	if r.relay != cl.relayed {
		cl.relayed = r.relay
		if r.relay {
			r.env.metrics.RoomsRelayed.Inc()
		} else {
			r.env.metrics.RoomsRelayed.Dec()
		}
	}
	if r.relay {
		r.env.metrics.RoomClaims.WithLabelValues("owned").Inc()
	} else {
		r.env.metrics.RoomClaims.WithLabelValues("won").Inc()
		cl.claimWait = 0
	}
	if first {
		r.publishFeed(RoomEvent{Kind: EventPresenceSync})
	}
	if len(r.shell.members.users) > 0 || cl.published {
		r.schedulePresence()
	}
	if cl.beatGen != r.gen {
		cl.beatGen = r.gen
		r.after(tailBeat, &clusterBeat{gen: r.gen})
	}
}

// leaveFeed ends the room's part in the cluster as it stops for good.
func (s *roomShell) leaveFeed(e *env) {
	cl := s.cl
	if cl == nil {
		return
	}
	if cl.published {
		_ = e.cluster.PublishRoom(s.name, RoomEvent{Kind: EventPresence, Node: e.cluster.Node(), Seq: e.presenceSeq.Add(1), Users: []PresenceMember{}})
	}
	if cl.relayed {
		e.metrics.RoomsRelayed.Dec()
		cl.relayed = false
	}
	if cl.unsubscribe != nil {
		cl.unsubscribe()
	}
}

func (r *roomActor) publishFeed(ev RoomEvent) {
	ev.Node = r.env.cluster.Node()
	if err := r.env.cluster.PublishRoom(r.shell.name, ev); err != nil {
		r.log().Warn("room feed publish failed", "err", err, "kind", ev.Kind)
	}
}

// dispatchCluster handles a loaded room's cluster messages; it reports
// whether msg was one.
func (r *roomActor) dispatchCluster(msg any) bool {
	switch m := msg.(type) {
	case *feedEvent:
		r.onFeed(m.ev)
	case *backfilled:
		if m.gen == r.gen {
			r.onBackfilled(m)
		}
	case *clusterBeat:
		if m.gen == r.gen {
			r.beat()
		}
	case *publishPresence:
		r.publishPresenceSnapshot()
	case *nodesLive:
		r.onNodesLive(m.Nodes)
	case *orphanExpired:
		r.onOrphanExpired(m)
	default:
		return false
	}
	return true
}

// beat publishes the owner's tail, repairs presence now and then, and arms
// the next beat.
func (r *roomActor) beat() {
	cl := r.shell.cl
	cl.beats++
	if !r.relay {
		r.publishFeed(RoomEvent{Kind: EventTail, Epoch: r.stream.epoch, Offset: r.stream.committed})
	}
	// Every beat at first (interest in a new feed crosses NATS routes
	// asynchronously, so the first snapshots may be lost), then now and then.
	if (cl.beats <= presenceBeats || cl.beats%presenceBeats == 0) && (len(r.shell.members.users) > 0 || cl.published) {
		r.publishPresenceSnapshot()
	}
	r.after(tailBeat, &clusterBeat{gen: r.gen})
}

// publishStoredBatch tells the other nodes what the owner just stored.
// conns[i] is the local connection that sent msgs[i], tags[i] the remote one.
func (r *roomActor) publishStoredBatch(msgs []persistence.Message, reqs []*publish) {
	if r.shell.cl == nil || len(msgs) == 0 {
		return
	}
	node := r.env.cluster.Node()
	tags := make([]string, len(msgs))
	for i, p := range reqs {
		switch {
		case p == nil:
		case p.Sender != "":
			tags[i] = p.Sender
		case p.Conn != nil:
			tags[i] = SenderTag(node, p.Conn.Id)
		}
	}
	r.publishFeed(RoomEvent{Kind: EventBatch, Epoch: r.stream.epoch, Msgs: msgs, Senders: tags})
}

// onFeed handles an event of another node.
func (r *roomActor) onFeed(ev RoomEvent) {
	cl := r.shell.cl
	if cl == nil {
		return
	}
	switch ev.Kind {
	case EventBatch, EventTail:
		last := ev.Offset
		if ev.Kind == EventBatch {
			if len(ev.Msgs) == 0 {
				return
			}
			last = ev.Msgs[len(ev.Msgs)-1].Offset
		}
		if !r.relay {
			// Another node stores this room: it claimed it after this one
			// (whose next append will be fenced). Reload to find out.
			// A write in flight will be fenced, which reloads the room.
			if !r.stream.busy() && (ev.Epoch != r.stream.epoch || last > r.stream.committed) {
				r.log().Warn("another node writes this room; claiming it again", "node", ev.Node)
				r.reload()
			}
			return
		}
		if ev.Epoch != r.stream.epoch {
			r.reload()
			return
		}
		cl.owner = ev.Node
		if cl.backfilling {
			cl.queued = append(cl.queued, ev)
			return
		}
		r.applyFeed(ev)
	case EventPresence:
		r.onRemotePresence(ev)
	case EventPresenceSync:
		if len(r.shell.members.users) > 0 || cl.published {
			r.schedulePresence()
		}
	case EventTyping:
		r.offerTyping(ev.User, ev.On)
	case EventSignal:
		r.offerSignal(SignalPush{Room: r.shell.name, User: ev.User, Conn: ev.Conn, Key: ev.Key, Data: ev.Data}, nil)
	}
}

// applyFeed delivers a batch (or acts on a tail) that is not waiting for a
// backfill.
func (r *roomActor) applyFeed(ev RoomEvent) {
	committed := r.stream.committed
	if ev.Kind == EventTail {
		if ev.Offset > committed {
			r.startBackfill()
		}
		return
	}
	first := ev.Msgs[0].Offset
	if first > committed+1 {
		r.shell.cl.queued = append(r.shell.cl.queued, ev)
		r.startBackfill()
		return
	}
	skip := int(committed + 1 - first)
	if skip >= len(ev.Msgs) {
		return // delivered already
	}
	var tags []string
	if len(ev.Senders) == len(ev.Msgs) {
		tags = ev.Senders[skip:]
	}
	r.deliverRelayed(ev.Msgs[skip:], tags)
}

// deliverRelayed hands messages the owner stored, continuing the relay's
// stream, to the members here.
func (r *roomActor) deliverRelayed(msgs []persistence.Message, tags []string) {
	cl := r.shell.cl
	prefix := r.env.cluster.Node() + "/"
	conns := make([]string, len(msgs))
	for i, m := range msgs {
		if i < len(tags) && strings.HasPrefix(tags[i], prefix) {
			conns[i] = tags[i][len(prefix):]
		}
		if c, ok := cl.acked[m.Offset]; ok {
			conns[i] = c
			delete(cl.acked, m.Offset)
		}
	}
	r.stream.observe(msgs)
	r.broadcastMsgs(msgs, conns)
	r.shell.broadcast = r.stream.committed
	for off := range cl.acked {
		if off <= r.stream.committed {
			delete(cl.acked, off)
		}
	}
	r.publishStats()
}

// startBackfill reads what the relay has not delivered from the store.
func (r *roomActor) startBackfill() {
	cl := r.shell.cl
	if cl.backfilling {
		return
	}
	cl.backfilling = true
	r.env.metrics.RelayBackfills.Inc()
	gen, name, store, cfg := r.gen, r.shell.name, r.env.store, r.env.cfg
	root, self, after := r.env.root, r.self, r.stream.committed
	r.shell.lane.Do(func() {
		ctx, cancel := contextFor(cfg)
		defer cancel()
		var out []persistence.Message
		for range 20 { // at most 20 pages a read; the next beat reads on
			page, err := store.Read(ctx, name, persistence.ReadQuery{After: after, Limit: rebroadcastPage})
			if err != nil {
				root.Send(self, &backfilled{gen: gen, msgs: out, err: err})
				return
			}
			out = append(out, page.Messages...)
			if len(page.Messages) < rebroadcastPage {
				break
			}
			after = page.Messages[len(page.Messages)-1].Offset
		}
		root.Send(self, &backfilled{gen: gen, msgs: out})
	})
}

func (r *roomActor) onBackfilled(m *backfilled) {
	cl := r.shell.cl
	cl.backfilling = false
	if m.err != nil {
		r.log().Warn("relay backfill failed; the next beat retries", "err", m.err)
	}
	committed := r.stream.committed
	i := 0
	for i < len(m.msgs) && m.msgs[i].Offset <= committed {
		i++
	}
	if i < len(m.msgs) && m.msgs[i].Offset == committed+1 {
		r.deliverRelayed(m.msgs[i:], nil)
	}
	if m.err != nil {
		return
	}
	queued := cl.queued
	cl.queued = nil
	for _, ev := range queued {
		if cl.backfilling {
			cl.queued = append(cl.queued, ev)
			continue
		}
		r.applyFeed(ev)
	}
}

// forwardSend hands a relay's send to the room's owner.
func (r *roomActor) forwardSend(p *publish) {
	if p.forwards >= maxForwards {
		r.env.metrics.Forwarded.WithLabelValues("failed").Inc()
		r.failPublish(p, CodeUnavailable, "the room's owner cannot be reached; retry")
		return
	}
	p.forwards++
	sender := p.Sender
	if sender == "" && p.Conn != nil {
		sender = SenderTag(r.env.cluster.Node(), p.Conn.Id)
	}
	send := RemoteSend{
		Room: r.shell.name, From: p.From, Kind: p.Kind, Text: p.Text, Data: p.Data,
		ReplyTo: p.ReplyTo, CID: p.CID, Sender: sender,
	}
	root, self := r.env.root, r.self
	r.env.cluster.SendToNode(r.shell.cl.owner, send, forwardTimeout, func(res RemoteSendResult, err error) {
		root.Send(self, &forwardDone{p: p, res: res, err: err})
	})
}

// onForwarded answers a forwarded send, or sends it again after the room
// is claimed anew. It runs in any incarnation, loaded or not.
func (r *roomActor) onForwarded(m *forwardDone) {
	p := m.p
	if m.err == nil {
		if m.res.Code != "" {
			r.env.metrics.Forwarded.WithLabelValues("failed").Inc()
			r.failPublish(p, m.res.Code, m.res.Message)
			return
		}
		r.env.metrics.Forwarded.WithLabelValues("acked").Inc()
		if cl := r.shell.cl; cl != nil && p.Conn != nil && m.res.Offset > r.stream.committed {
			cl.acked[m.res.Offset] = p.Conn.Id
		}
		r.ack(streamAck{req: p, slot: &dedupSlot{msgID: m.res.MsgID, offset: m.res.Offset, ts: m.res.TS}, dup: m.res.Dup})
		return
	}
	if !errors.Is(m.err, ErrNodeUnreachable) && p.CID == "" {
		// It may have been stored: without a client id a second try could
		// store it twice. The client decides.
		r.env.metrics.Forwarded.WithLabelValues("failed").Inc()
		r.failPublish(p, CodeUnavailable, "the room's owner did not answer; retry")
		return
	}
	r.env.metrics.Forwarded.WithLabelValues("retried").Inc()
	switch {
	case r.retired:
		r.env.registry.sendRoom(r.shell.name, p)
	case !r.loaded:
		r.hold(p)
	default:
		r.deferred = append(r.deferred, p)
		r.reclaim()
	}
}

// reclaim claims the room again after a pause that grows while the owner
// keeps a live lease without answering: it becomes the owner once the
// store lets it, or relays for whoever owns it now.
func (r *roomActor) reclaim() {
	cl := r.shell.cl
	r.loaded = false
	r.reloading = true
	cl.claimWait = min(max(2*cl.claimWait, 25*time.Millisecond), claimWaitMax)
	r.after(cl.claimWait, &retryLoad{gen: r.gen})
}

// reload loads the room again at once (its owner changed, or its epoch).
func (r *roomActor) reload() {
	if !r.loaded {
		return
	}
	r.loaded = false
	r.reloading = true
	r.load()
}

// yieldToRelay is a fenced owner's way out in a cluster: nothing of the
// refused batch was stored, so its sends (and the duplicates waiting on
// them) are handled again once the room is loaded anew, forwarded to the
// new owner, whose client-id window answers any it has.
func (r *roomActor) yieldToRelay() {
	r.env.metrics.FencedWrites.Inc()
	r.log().Warn("room claimed by another node; relaying to it", "offset", r.stream.committed, "unstored", len(r.stream.unstored()))
	var redo []any
	for _, pm := range r.stream.unstored() {
		redo = append(redo, pm.req)
	}
	for _, w := range r.stream.waiters() {
		redo = append(redo, w)
	}
	r.stream = newRoomStream(limitsOf(r.env.cfg))
	r.deferred = slices.Concat(redo, r.deferred)
	r.loaded = false
	r.reloading = true
	r.load()
}

// schedulePresence publishes this node's presence snapshot once the room
// has handled what its mailbox holds (or after the presence interval).
func (r *roomActor) schedulePresence() {
	cl := r.shell.cl
	if cl == nil || cl.presenceQueued {
		return
	}
	cl.presenceQueued = true
	if d := r.env.cfg.PresenceInterval; d > 0 {
		r.after(d, &publishPresence{})
	} else {
		r.env.root.Send(r.self, &publishPresence{})
	}
}

func (r *roomActor) publishPresenceSnapshot() {
	cl := r.shell.cl
	cl.presenceQueued = false
	users := r.localPresence()
	cl.published = len(users) > 0
	r.publishFeed(RoomEvent{Kind: EventPresence, Seq: r.env.presenceSeq.Add(1), Users: users})
}

// onRemotePresence applies another node's snapshot: users it adds or drops
// that no other node (nor this one) has are pushed to the members here.
func (r *roomActor) onRemotePresence(ev RoomEvent) {
	cl := r.shell.cl
	old := cl.remote[ev.Node]
	if old != nil && ev.Seq <= old.seq {
		return
	}
	users := make(map[string]PresenceMember, len(ev.Users))
	for _, u := range ev.Users {
		users[u.ID] = u
	}
	r.replaceRemote(ev.Node, &remotePresence{seq: ev.Seq, users: users})
}

func (r *roomActor) replaceRemote(node string, next *remotePresence) {
	cl := r.shell.cl
	var before map[string]PresenceMember
	if old := cl.remote[node]; old != nil {
		before = old.users
	}
	cl.remote[node] = next
	elsewhere := func(id string) bool {
		if _, ok := r.shell.members.users[id]; ok {
			return true
		}
		for n, rp := range cl.remote {
			if _, ok := rp.users[id]; ok && n != node {
				return true
			}
		}
		return false
	}
	for id, u := range next.users {
		if _, ok := before[id]; !ok && !elsewhere(id) {
			r.queuePresence(presenceEvent{user: UserRef{ID: id, Name: u.Name}, join: true})
		}
	}
	for id, u := range before {
		if _, ok := next.users[id]; !ok && !elsewhere(id) {
			r.queuePresence(presenceEvent{user: UserRef{ID: id, Name: u.Name}})
		}
	}
	r.remoteStates(before, next.users)
	if len(next.users) == 0 {
		// Keep the sequence: an older snapshot arriving late is still ignored.
		cl.remote[node] = &remotePresence{seq: next.seq}
	}
	r.publishStats()
}

// onNodesLive orphans the members of nodes that are gone, and claims a room
// whose owner is gone at once rather than at its next send.
func (r *roomActor) onNodesLive(live []string) {
	cl := r.shell.cl
	if cl == nil {
		return
	}
	for node, rp := range cl.remote {
		if !slices.Contains(live, node) && len(rp.users) > 0 && !rp.orphaned {
			r.orphanRemote(node, rp)
		}
	}
	if r.relay && !slices.Contains(live, cl.owner) {
		cl.claimWait = 0
		r.reload()
	}
}

// orphanRemote treats the users of a node that is gone as a single node
// treats a user whose connection dropped (PROTOCOL.md): their connections
// and presence states end at once, but they stay in presence for the
// session grace, so the clients that reconnect to another node within it
// (a node's whole reconnect storm) push no leave and join. A snapshot of
// the node, should it come back, replaces the orphaned one.
func (r *roomActor) orphanRemote(node string, rp *remotePresence) {
	users := make(map[string]PresenceMember, len(rp.users))
	for id, u := range rp.users {
		users[id] = PresenceMember{ID: u.ID, Name: u.Name}
	}
	r.replaceRemote(node, &remotePresence{seq: rp.seq, users: users, orphaned: true})
	r.after(r.env.cfg.SessionGrace, &orphanExpired{node: node, seq: rp.seq})
}

// onOrphanExpired forgets a gone node's users once their grace is over:
// those not back on another node leave presence.
func (r *roomActor) onOrphanExpired(m *orphanExpired) {
	if r.shell.cl == nil {
		return
	}
	if rp := r.shell.cl.remote[m.node]; rp != nil && rp.orphaned && rp.seq == m.seq {
		r.replaceRemote(m.node, &remotePresence{seq: rp.seq})
	}
}

// remoteHas reports whether another node has the user in the room.
func (r *roomActor) remoteHas(id string) bool {
	if r.shell.cl == nil {
		return false
	}
	for _, rp := range r.shell.cl.remote {
		if _, ok := rp.users[id]; ok {
			return true
		}
	}
	return false
}

// localPresence lists this node's users in the room, with the presence
// states of their connections here.
func (r *roomActor) localPresence() []PresenceMember {
	out := make([]PresenceMember, 0, len(r.shell.members.users))
	at := make(map[string]int, len(r.shell.members.users))
	for id, p := range r.shell.members.users {
		at[id] = len(out)
		out = append(out, PresenceMember{ID: p.user.ID, Name: p.user.Name, Conns: p.conns})
	}
	for _, mem := range r.shell.members.list {
		if mem.state != nil {
			i := at[mem.user.ID]
			out[i].States = append(out[i].States, ConnState{Conn: mem.tag, State: mem.state})
		}
	}
	for i := range out {
		slices.SortFunc(out[i].States, byConn)
	}
	return out
}

// clusterUsers counts the distinct users in the room on every node.
func (r *roomActor) clusterUsers() int {
	n := len(r.shell.members.users)
	if r.shell.cl == nil {
		return n
	}
	// A user counts on the first node that has it, in this node then
	// the others' order: lookups in the few nodes' maps, no map of its
	// own (a storm's every join republishes the stats).
	remotes := make([]map[string]PresenceMember, 0, len(r.shell.cl.remote))
	for _, rp := range r.shell.cl.remote {
		for id := range rp.users {
			if _, local := r.shell.members.users[id]; local || seenIn(remotes, id) {
				continue
			}
			n++
		}
		remotes = append(remotes, rp.users)
	}
	return n
}

// seenIn reports whether any of the maps holds id.
func seenIn(maps []map[string]PresenceMember, id string) bool {
	for _, m := range maps {
		if _, ok := m[id]; ok {
			return true
		}
	}
	return false
}
