package drill

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/troupe-chat/troupe/actors/drills"
)

// The node drills: faults of a whole server process, injected with signals
// by the drill itself (the server API cannot kill its own node).
const (
	// NodeKill SIGKILLs a node; its lease expires and other nodes claim its
	// rooms.
	NodeKill drills.Kind = "node-kill"
	// NodePause SIGSTOPs a node for Options.Pause, past its lease, then
	// SIGCONTs it; its writes are fenced when it wakes.
	NodePause drills.Kind = "node-pause"
)

// isNodeKind reports whether k is a node drill rather than one of the
// server API's drills.
func isNodeKind(k drills.Kind) bool { return k == NodeKill || k == NodePause }

// nodeFault is the run's node drill: which node it hits and what it cost.
type nodeFault struct {
	kind    drills.Kind
	node    int
	pid     int
	pause   time.Duration
	rooms   []string // the drill rooms the node owns, by placement
	members []*member
	nodes   *nodeSet
	api     *apiClient // the node's own API and metrics
	times   *faultTimes

	mu       sync.Mutex
	state    string        // guarded by mu: for the progress line
	at       time.Time     // guarded by mu: the signal
	detected time.Duration // guarded by mu: signal → marked down by the health checks
	others   int           // guarded by mu: other nodes marked down after the signal
	owned    int           // guarded by mu: rooms owned per the node's metrics, -1 unknown
	clients  int           // guarded by mu: clients on the node at the signal
	err      error         // guarded by mu
}

func newNodeFault(kind drills.Kind, node, pid int, o Options, rooms []string, members []*member, nodes *nodeSet, times *faultTimes) *nodeFault {
	f := &nodeFault{kind: kind, node: node, pid: pid, pause: o.Pause, rooms: rooms, members: members,
		nodes: nodes, api: newAPIClient(nodes.urls[node], o.APIKey), times: times, state: "waiting", owned: -1}
	nodes.onDown(func(n int, at time.Time) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case f.at.IsZero():
		case n != f.node:
			f.others++
		case f.detected == 0:
			f.detected = at.Sub(f.at)
		}
	})
	return f
}

// run injects the fault. A paused node is always continued, even when ctx
// ends first.
func (f *nodeFault) run(ctx context.Context) {
	if c, err := f.api.counters(ctx); err == nil {
		f.mu.Lock()
		f.owned = int(c.roomsActive - c.roomsRelayed)
		f.mu.Unlock()
	}
	var clients []string
	for _, m := range f.members {
		if m.currentNode() == f.node {
			clients = append(clients, m.name)
		}
	}
	sig := sigKill
	if f.kind == NodePause {
		sig = sigStop
	}
	at := time.Now()
	f.times.signalled(at, f.node, f.rooms, clients)
	if err := sendSignal(f.pid, sig); err != nil {
		f.fail(err)
		return
	}
	f.mu.Lock()
	f.at, f.clients, f.state = at, len(clients), "killed"
	if f.kind == NodePause {
		f.state = "paused"
	}
	f.mu.Unlock()
	if f.kind != NodePause {
		return
	}
	t := time.NewTimer(f.pause)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	if err := sendSignal(f.pid, sigCont); err != nil {
		f.fail(fmt.Errorf("continue the paused node: %w", err))
		return
	}
	f.mu.Lock()
	f.state = "continued"
	f.mu.Unlock()
}

func (f *nodeFault) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
	f.state = "failed"
}

// status describes the fault for the progress line.
func (f *nodeFault) status() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("%s node %d (pid %d) %s", f.kind, f.node, f.pid, f.state)
}

// killed reports whether the node was killed: it answers no more.
func (f *nodeFault) killed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kind == NodeKill && !f.at.IsZero()
}

// report returns what the fault cost; start is the start of the load.
func (f *nodeFault) report(start time.Time) *NodeFaultReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &NodeFaultReport{
		Kind: string(f.kind), Node: f.nodes.urls[f.node], PID: f.pid, Injected: !f.at.IsZero(),
		OwnedRooms: len(f.rooms), OwnedByMetrics: f.owned, Clients: f.clients,
		DetectedMS: float64(f.detected.Microseconds()) / 1000, OthersMarkedDown: f.others,
	}
	if r.Injected {
		r.AtMS = float64(f.at.Sub(start).Microseconds()) / 1000
	}
	if f.kind == NodePause {
		r.PauseMS = float64(f.pause.Microseconds()) / 1000
	}
	if f.err != nil {
		r.Error = f.err.Error()
	}
	r.Replacement, r.ClientReconnect, r.UnplacedRooms, r.StrandedClients = f.times.summary()
	return r
}
