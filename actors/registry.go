package actors

import (
	"sort"
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
	Offset      uint64
	Epoch       string
	Restarts    int
}

// roomEntry is a registry slot for one active room.
type roomEntry struct {
	pid   *actor.PID
	shell *roomShell
	stats atomic.Pointer[RoomStats] // written by the room actor, read by Rooms
}

// localRegistry is the one-node Registry.
type localRegistry struct {
	root      *actor.RootContext // static after construction
	roomProps func(shell *roomShell, entry *roomEntry) *actor.Props
	userProps func(id string) *actor.Props
	newShell  func(name string) *roomShell

	mu    sync.Mutex            // guards rooms and users; never held while sending
	rooms map[string]*roomEntry // guarded by mu
	users map[string]*actor.PID // guarded by mu
}

func newLocalRegistry(root *actor.RootContext) *localRegistry {
	return &localRegistry{
		root:  root,
		rooms: make(map[string]*roomEntry),
		users: make(map[string]*actor.PID),
	}
}

// Room implements Registry.
func (r *localRegistry) Room(name string) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.rooms[name]; ok {
		return e.pid
	}
	shell := r.newShell(name)
	e := &roomEntry{shell: shell}
	pid, err := r.root.SpawnNamed(r.roomProps(shell, e), "room/"+name)
	if err != nil {
		// A previous incarnation is still stopping under that name: use it; its
		// dead letters are rerouted to the next incarnation.
		shell.close()
		return pid
	}
	e.pid = pid
	r.rooms[name] = e
	return pid
}

// roomStopped removes a room whose actor stopped for good.
func (r *localRegistry) roomStopped(name string, pid *actor.PID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.rooms[name]; ok && e.pid.Equal(pid) {
		delete(r.rooms, name)
	}
}

// User implements Registry.
func (r *localRegistry) User(id string) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pid, ok := r.users[id]; ok {
		return pid
	}
	pid, err := r.root.SpawnNamed(r.userProps(id), "user/"+id)
	if err != nil {
		return pid
	}
	r.users[id] = pid
	return pid
}

// LookupUser implements Registry.
func (r *localRegistry) LookupUser(id string) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.users[id]
}

// userStopped removes a user whose actor stopped.
func (r *localRegistry) userStopped(id string, pid *actor.PID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.users[id]; ok && p.Equal(pid) {
		delete(r.users, id)
	}
}

// Rooms implements Registry.
func (r *localRegistry) Rooms() []RoomStats {
	r.mu.Lock()
	out := make([]RoomStats, 0, len(r.rooms))
	for name, e := range r.rooms {
		if s := e.stats.Load(); s != nil {
			out = append(out, *s)
		} else {
			out = append(out, RoomStats{Room: name})
		}
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
