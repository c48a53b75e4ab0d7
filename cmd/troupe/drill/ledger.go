package drill

import (
	"fmt"
	"sort"
	"sync"
)

// ledger records, per room, what the server acked and what every member was
// delivered, and checks the two against each other at the end of a run.
type ledger struct {
	mu    sync.Mutex
	rooms map[string]*roomLedger // guarded by mu
}

type roomLedger struct {
	acked    map[uint64]string         // offset → cid of the acked message
	ackedAt  map[string]map[uint64]int // cid → offsets it was acked at
	members  map[string]*memberView    // by client name
	maxSeen  uint64
	problems []string
}

// memberView is what one member saw of a room.
type memberView struct {
	seen        map[uint64]string // offset → cid, from pushes, recovery and own acks
	pushed      map[uint64]bool   // offsets delivered (not own acks)
	last        uint64            // last pushed offset, for the order check
	outOfOrder  int
	redelivered int
}

func newLedger() *ledger { return &ledger{rooms: make(map[string]*roomLedger)} }

func (l *ledger) room(name string) *roomLedger {
	r, ok := l.rooms[name]
	if !ok {
		r = &roomLedger{acked: map[uint64]string{}, ackedAt: map[string]map[uint64]int{}, members: map[string]*memberView{}}
		l.rooms[name] = r
	}
	return r
}

func (r *roomLedger) member(name string) *memberView {
	m, ok := r.members[name]
	if !ok {
		m = &memberView{seen: map[uint64]string{}, pushed: map[uint64]bool{}}
		r.members[name] = m
	}
	return m
}

// join registers a member of a room, so a member that saw nothing is still
// checked.
func (l *ledger) join(room, member string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.room(room).member(member)
}

// acked records the server's ack of a member's message.
func (l *ledger) acked(room, member, cid string, offset uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.room(room)
	if prev, ok := r.acked[offset]; ok && prev != cid {
		r.problems = append(r.problems, fmt.Sprintf("offset %d acked for both %s and %s", offset, prev, cid))
	}
	r.acked[offset] = cid
	if r.ackedAt[cid] == nil {
		r.ackedAt[cid] = map[uint64]int{}
	}
	r.ackedAt[cid][offset]++
	r.member(member).seen[offset] = cid
	r.maxSeen = max(r.maxSeen, offset)
}

// delivered records a message pushed (or recovered) to a member.
func (l *ledger) delivered(room, member, cid string, offset uint64) {
	l.record(room, member, cid, offset, true)
}

// replayed records a message a member got back by joining again with since
// after its room was closed: it counts like a delivery, but the order check
// covers live pushes only (pushes that follow the rejoin may be handled first).
func (l *ledger) replayed(room, member, cid string, offset uint64) {
	l.record(room, member, cid, offset, false)
}

func (l *ledger) record(room, member, cid string, offset uint64, checkOrder bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.room(room)
	m := r.member(member)
	if m.pushed[offset] {
		m.redelivered++
	}
	m.pushed[offset] = true
	if checkOrder {
		if offset <= m.last {
			m.outOfOrder++
		}
		m.last = max(m.last, offset)
	}
	m.seen[offset] = cid
	r.maxSeen = max(r.maxSeen, offset)
}

// highest returns the highest acked offset of each room.
func (l *ledger) highest() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]uint64, len(l.rooms))
	for name, r := range l.rooms {
		for off := range r.acked {
			out[name] = max(out[name], off)
		}
	}
	return out
}

// caughtUp reports whether every member of every room has seen every acked
// offset.
func (l *ledger) caughtUp() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.rooms {
		for off := range r.acked {
			for _, m := range r.members {
				if _, ok := m.seen[off]; !ok {
					return false
				}
			}
		}
	}
	return true
}

// Verdict is the end-to-end check of a run.
type Verdict struct {
	// Lost counts (message, member) pairs: an acked message a member that
	// stayed was never delivered.
	Lost int `json:"lost"`
	// Duplicated counts messages stored more than once (one cid at two
	// offsets) plus deliveries of one offset twice to a member.
	Duplicated int `json:"duplicated"`
	// Gaps counts offsets below a room's highest that nobody acked or saw.
	Gaps int `json:"gaps"`
	// OutOfOrder counts deliveries with an offset not above the member's
	// previous one.
	OutOfOrder int `json:"out_of_order"`
	// Problems lists the first findings, for the report.
	Problems []string `json:"problems,omitempty"`
}

// OK reports whether nothing was lost, duplicated, skipped or reordered.
func (v Verdict) OK() bool {
	return v.Lost == 0 && v.Duplicated == 0 && v.Gaps == 0 && v.OutOfOrder == 0
}

const maxProblems = 20

// verify checks every room: each acked offset was seen by every member, no
// cid was stored twice, offsets have no holes and arrived in order.
func (l *ledger) verify() Verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	var v Verdict
	note := func(format string, args ...any) {
		if len(v.Problems) < maxProblems {
			v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
		}
	}
	names := make([]string, 0, len(l.rooms))
	for name := range l.rooms {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := l.rooms[name]
		for _, p := range r.problems {
			v.Duplicated++
			note("%s: %s", name, p)
		}
		for cid, offs := range r.ackedAt {
			if len(offs) > 1 {
				v.Duplicated += len(offs) - 1
				note("%s: cid %s acked at %d offsets", name, cid, len(offs))
			}
		}
		cidAt := map[string]uint64{}
		for off := uint64(1); off <= r.maxSeen; off++ {
			cid, acked := r.acked[off]
			seen := acked
			for _, m := range r.members {
				if c, ok := m.seen[off]; ok {
					seen = true
					if cid == "" {
						cid = c
					}
				}
			}
			if !seen {
				v.Gaps++
				note("%s: offset %d was never acked nor delivered", name, off)
				continue
			}
			if prev, dup := cidAt[cid]; dup && cid != "" {
				v.Duplicated++
				note("%s: cid %s stored at offsets %d and %d", name, cid, prev, off)
			}
			cidAt[cid] = off
			if !acked {
				continue
			}
			for member, m := range r.members {
				got, ok := m.seen[off]
				switch {
				case !ok:
					v.Lost++
					note("%s: %s never got offset %d (%s)", name, member, off, cid)
				case got != cid:
					v.Lost++
					note("%s: %s got %s at offset %d, acked for %s", name, member, got, off, cid)
				}
			}
		}
		for member, m := range r.members {
			if m.outOfOrder > 0 {
				v.OutOfOrder += m.outOfOrder
				note("%s: %s got %d messages out of order", name, member, m.outOfOrder)
			}
			if m.redelivered > 0 {
				v.Duplicated += m.redelivered
				note("%s: %s got %d offsets twice", name, member, m.redelivered)
			}
		}
	}
	return v
}
