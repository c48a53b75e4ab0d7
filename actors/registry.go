package actors

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Registry resolves room names and user ids to actors. This implementation is
// local to one node; a cluster can back the same interface with cluster
// identities later.
type Registry interface {
	// Room returns the room's actor, spawning it on first use.
	Room(name string) *actor.PID
	// User returns the user's actor, spawning it on first use.
	User(id string) *actor.PID
	// LookupUser returns the user's actor, or nil when the user has none.
	LookupUser(id string) *actor.PID
	// Rooms lists the active rooms with their statistics.
	Rooms() []RoomStats
}

// RoomStats is a snapshot of an active room, published by its room actor.
type RoomStats struct {
	Room        string
	Members     int // distinct users
	Connections int
	Private     bool
	NoPresence  bool // presence is off (the stored config or --no-presence-rooms)
	Offset      uint64
	Epoch       string
	Restarts    int
	// Owner is the node that owns the room and Relay whether that is
	// another node than this one; "" and false on a single node.
	Owner   string
	Relay   bool
	Mailbox int // messages waiting in the room actor's mailbox (filled in by Rooms)
}

// roomEntry is a registry slot for one active room actor.
type roomEntry struct {
	pid     *actor.PID
	shell   *roomShell
	stats   atomic.Pointer[RoomStats] // written by the room actor, read by Rooms
	mailbox mailboxDepth              // counted by the actor's mailbox middleware
}

// userEntry is a registry slot for one active user actor.
type userEntry struct {
	pid *actor.PID
	// conns are the user's connections, owned by the user actor. A slice,
	// not a map: nearly every user has one or two, and a map would cost each
	// idle connection ~0.3 KiB more.
	conns []userConn
	// recovering holds observers of drilled crashes, told true by the next
	// incarnation once it runs; owned by the user actor.
	recovering []chan<- bool
	// restarted is set once an incarnation of the user actor has started;
	// owned by the user actor.
	restarted bool
}

// userConn is one connection of a user: its actor id and its socket.
type userConn struct {
	id   string
	peer Peer
}

// attach records a connection of the user (again: its peer is replaced).
func (e *userEntry) attach(id string, p Peer) {
	for i := range e.conns {
		if e.conns[i].id == id {
			e.conns[i].peer = p
			return
		}
	}
	e.conns = append(e.conns, userConn{id: id, peer: p})
}

// detach forgets a connection of the user.
func (e *userEntry) detach(id string) {
	for i := range e.conns {
		if e.conns[i].id == id {
			last := len(e.conns) - 1
			e.conns[i] = e.conns[last]
			e.conns[last] = userConn{}
			e.conns = e.conns[:last]
			return
		}
	}
}

// localRegistry is the one-node Registry. Every actor it spawns gets a name of
// its own ("room/NAME#SEQ"), so a room or user that is stopping never blocks the
// next actor for the same name. Sends that go through the registry happen under
// its lock, and an actor retires (leaves the registry) under the same lock
// before it stops: every message sent before the retirement is in the old
// actor's mailbox ahead of its stop, and it forwards them to its successor.
type localRegistry struct {
	root      *actor.RootContext // static after construction
	roomProps func(shell *roomShell, entry *roomEntry) *actor.Props
	userProps func(id string, entry *userEntry) *actor.Props
	newShell  func(name string, prev *storeLane) *roomShell
	workers   *sync.WaitGroup // the goroutines that wait for retired rooms' lanes; Shutdown waits for them

	mu       sync.Mutex // guards the fields below; sends under it only enqueue
	seq      uint64
	rooms    map[string]*roomEntry
	retiring map[string]*storeLane // lanes of stopped rooms still finishing their jobs
	users    map[string]*userEntry
}

func newLocalRegistry(root *actor.RootContext, workers *sync.WaitGroup) *localRegistry {
	return &localRegistry{
		root:     root,
		workers:  workers,
		rooms:    make(map[string]*roomEntry),
		retiring: make(map[string]*storeLane),
		users:    make(map[string]*userEntry),
	}
}

// Room implements Registry.
func (r *localRegistry) Room(name string) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.roomLocked(name).pid
}

// sendRoom delivers msg to the room's current actor, spawning it if needed,
// and returns that actor.
func (r *localRegistry) sendRoom(name string, msg any) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid := r.roomLocked(name).pid
	r.root.Send(pid, msg)
	return pid
}

// sendActiveRoom delivers msg to the room's actor if the room is active.
func (r *localRegistry) sendActiveRoom(name string, msg any) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.rooms[name]
	if ok {
		r.root.Send(e.pid, msg)
	}
	return ok
}

func (r *localRegistry) roomLocked(name string) *roomEntry {
	if e, ok := r.rooms[name]; ok {
		return e
	}
	prev := r.retiring[name]
	delete(r.retiring, name)
	shell := r.newShell(name, prev)
	e := &roomEntry{shell: shell}
	e.pid = r.spawn(r.roomProps(shell, e), "room/"+name)
	r.rooms[name] = e
	return e
}

// retireRoom takes a stopping room out of the registry if e is still its
// current entry, and keeps its lane until the lane has finished. It reports
// whether e was current.
func (r *localRegistry) retireRoom(name string, e *roomEntry) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.rooms[name]
	if !ok || cur != e {
		return false
	}
	delete(r.rooms, name)
	lane := e.shell.lane
	r.retiring[name] = lane
	r.workers.Go(func() {
		lane.wait()
		r.mu.Lock()
		if r.retiring[name] == lane {
			delete(r.retiring, name)
		}
		r.mu.Unlock()
	})
	return true
}

// User implements Registry.
func (r *localRegistry) User(id string) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.userLocked(id).pid
}

// sendUser delivers msg to the user's current actor, spawning it if needed.
// ensureUser starts the user's actor if it has none.
func (r *localRegistry) ensureUser(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.userLocked(id)
}

func (r *localRegistry) sendUser(id string, msg any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.root.Send(r.userLocked(id).pid, msg)
}

// sendLiveUser delivers msg to the user's actor if the user has one.
func (r *localRegistry) sendLiveUser(id string, msg any) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.users[id]
	if ok {
		r.root.Send(e.pid, msg)
	}
	return ok
}

func (r *localRegistry) userLocked(id string) *userEntry {
	if e, ok := r.users[id]; ok {
		return e
	}
	e := &userEntry{}
	e.pid = r.spawn(r.userProps(id, e), "user/"+id)
	r.users[id] = e
	return e
}

// spawn starts an actor named prefix#SEQ; the sequence makes the name unique.
func (r *localRegistry) spawn(props *actor.Props, prefix string) *actor.PID {
	r.seq++
	pid, err := r.root.SpawnNamed(props, prefix+"#"+strconv.FormatUint(r.seq, 10))
	if err != nil {
		// Only a name collision fails a local spawn, and the sequence rules that out.
		panic(fmt.Sprintf("actors: spawn %s: %v", prefix, err))
	}
	return pid
}

// actorName returns the room or user name of a PID spawned by the registry
// ("room/NAME#SEQ" → "room", "NAME").
func actorName(pid *actor.PID) (kind, name string, ok bool) {
	kind, rest, ok := strings.Cut(pid.Id, "/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '#')
	if i < 0 {
		return "", "", false
	}
	return kind, rest[:i], true
}

// LookupUser implements Registry.
func (r *localRegistry) LookupUser(id string) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.users[id]; ok {
		return e.pid
	}
	return nil
}

// retireUser takes a stopping user out of the registry if e is still current.
func (r *localRegistry) retireUser(id string, e *userEntry) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.users[id]; !ok || cur != e {
		return false
	}
	delete(r.users, id)
	return true
}

// Rooms implements Registry.
// stats returns the last published stats of an active room.
func (r *localRegistry) stats(name string) (RoomStats, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.rooms[name]
	if !ok {
		return RoomStats{}, false
	}
	if s := e.stats.Load(); s != nil {
		out := *s
		out.Mailbox = e.mailbox.Load()
		return out, true
	}
	return RoomStats{}, false
}

func (r *localRegistry) userIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.users))
	for id := range r.users {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (r *localRegistry) Rooms() []RoomStats {
	r.mu.Lock()
	out := make([]RoomStats, 0, len(r.rooms))
	for name, e := range r.rooms {
		s := RoomStats{Room: name}
		if p := e.stats.Load(); p != nil {
			s = *p
		}
		s.Mailbox = e.mailbox.Load()
		out = append(out, s)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out
}

// roomPIDs returns every active room actor (for draining).
func (r *localRegistry) roomPIDs() []*actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*actor.PID, 0, len(r.rooms))
	for _, e := range r.rooms {
		out = append(out, e.pid)
	}
	return out
}
