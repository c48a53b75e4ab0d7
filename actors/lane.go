package actors

import (
	"sync"
)

// storeLane runs one room's store calls one after another on its own goroutine,
// so the room actor never blocks on I/O and a restarted room's reload always
// runs after the writes its previous incarnation started. Results come back to
// the room as messages.
type storeLane struct {
	mu     sync.Mutex // guards jobs and closed
	jobs   []func()   // guarded by mu
	closed bool       // guarded by mu
	wake   chan struct{}
	done   chan struct{}
}

// newStoreLane starts a lane. Its jobs run only after prev (the lane of the
// room's previous actor, nil if none) has finished, so a room that stops and
// starts again never reads state older than what it wrote.
func newStoreLane(prev *storeLane) *storeLane {
	l := &storeLane{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run(prev)
	return l
}

// Do queues job; it never blocks. Jobs queued after close are dropped.
func (l *storeLane) Do(job func()) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.jobs = append(l.jobs, job)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// close finishes the queued jobs and stops the lane's goroutine.
func (l *storeLane) close() {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	l.mu.Unlock()
	if !already {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// wait blocks until the lane's goroutine has ended.
func (l *storeLane) wait() { <-l.done }

func (l *storeLane) run(prev *storeLane) {
	defer close(l.done)
	if prev != nil {
		prev.wait()
	}
	for {
		l.mu.Lock()
		jobs := l.jobs
		l.jobs = nil
		closed := l.closed
		l.mu.Unlock()
		for _, job := range jobs {
			job()
		}
		if len(jobs) > 0 {
			continue
		}
		if closed {
			return
		}
		<-l.wake
	}
}

// roomShell is the part of a room that outlives a restart of its actor: the
// store lane, the membership (so members stay members without reconnecting),
// the offset up to which the stream was broadcast, and whatever the crashed
// incarnation held for others (unstored messages, dedup waiters, drains,
// membership commands). Only the room actor's current incarnation touches it.
type roomShell struct {
	name      string
	lane      *storeLane
	members   memberSet
	broadcast uint64 // last offset broadcast to members; 0 before the first load
	loaded    bool   // a load has completed at least once
	restarts  int
	timers    *timerSet // armed by any incarnation; stopped when the room stops for good
	leaveSeq  uint64    // tokens for presence grace timers
	// namedNoPresence caches whether the name matches --no-presence-rooms:
	// 0 not known yet, 1 it does, -1 it does not.
	namedNoPresence int8
	// closeReason is the room_closed reason members get when the room stops
	// ("deleted"); empty means the supervisor stopped it ("crashed").
	closeReason string

	// Handed over by a crashed incarnation to the next one.
	carried []*pendingMsg     // accepted, not known to be stored; in offset order
	waiters []*publish        // duplicates waiting for a carried message's ack
	redo    []any             // commands to handle again after the reload
	drains  []chan<- struct{} // drain requests not yet answered
	// observers of drilled crashes: told true when the next incarnation has
	// reloaded and serves again, false when the room stopped instead.
	recovering []chan<- bool

	// cl is the room's part in a cluster; nil on a single node.
	cl *clusterRoom
}

func newRoomShell(name string, prev *storeLane) *roomShell {
	return &roomShell{name: name, lane: newStoreLane(prev), members: newMemberSet()}
}

// close stops the room's timers and lets its lane finish.
func (s *roomShell) close() {
	if s.timers != nil {
		s.timers.stopAll()
	}
	s.lane.close()
}
