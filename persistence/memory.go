package persistence

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemoryRetention is how many messages Memory keeps per room: when a room's
// stream grows beyond it, the oldest messages are dropped and Read no longer
// returns them. Offsets are unaffected; LastOffset keeps counting. Trim can
// drop more. Like Trim, the cap never drops a document update (KindDoc) that
// the room's snapshot does not cover, nor anything after it: a room of
// document updates without snapshots grows beyond the cap.
const MemoryRetention = 10_000

// Memory is a Store that keeps everything in process memory; nothing survives
// the process. It is meant for tests, development and ephemeral deployments.
//
// A single sync.RWMutex guards all rooms, sessions and leases: writes
// (OpenRoom, ClaimRoom, Append, Trim, ConfigureRoom, DeleteRoom, the session
// and lease writes, Close) take it exclusively, reads share it. Leases
// expire by the local clock.
// Messages are copied on the way in and out, so callers may reuse or modify
// their slices and Data buffers freely.
type Memory struct {
	mu       sync.RWMutex
	rooms    map[string]*memRoom      // guarded by mu
	sessions map[string]SessionRecord // guarded by mu; Expires already normalised
	fences   uint64                   // guarded by mu: the last fence handed out, for any room
	leases   map[string]time.Time     // guarded by mu: node → expiry, by the local clock
	closed   bool                     // guarded by mu
}

// memRoom is one room of a Memory store.
type memRoom struct {
	epoch string
	fence uint64 // the latest claim's fence
	owner string // the latest claim's node, "" for OpenRoom's
	last  uint64
	cfg   RoomConfig
	msgs  []Message // retained messages, consecutive ascending offsets ending at last
	snap  *Snapshot // the document snapshot, nil when none
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{rooms: make(map[string]*memRoom), sessions: make(map[string]SessionRecord),
		leases: make(map[string]time.Time)}
}

// lockCheck returns the error a method must fail with before touching state:
// the context's error or ErrClosed. Callers hold mu (in either mode).
func (m *Memory) lockCheck(ctx context.Context, op, room string) error {
	err := ctx.Err()
	if err == nil && m.closed {
		err = ErrClosed
	}
	switch {
	case err == nil:
		return nil
	case room == "":
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	return fmt.Errorf("memory: %s %s: %w", op, room, err)
}

// OpenRoom implements Store.
func (m *Memory) OpenRoom(ctx context.Context, room string) (RoomState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockCheck(ctx, "open room", room); err != nil {
		return RoomState{}, err
	}
	return m.claimLocked(room, ""), nil
}

// claimLocked claims room for owner ("" for none) under the next fence,
// creating the room when missing. Callers hold mu exclusively.
func (m *Memory) claimLocked(room, owner string) RoomState {
	r, ok := m.rooms[room]
	if !ok {
		r = &memRoom{epoch: NewEpoch()}
		m.rooms[room] = r
	}
	m.fences++
	r.fence, r.owner = m.fences, owner
	return RoomState{Room: room, Epoch: r.epoch, LastOffset: r.last, Config: r.cfg, Created: !ok,
		Fence: r.fence, Owner: owner}
}

// info returns the room as listed.
func (r *memRoom) info(room string) RoomInfo {
	return RoomInfo{Room: room, Epoch: r.epoch, LastOffset: r.last, Config: r.cfg, Owner: r.owner}
}

// Append implements Store. It verifies the room, the claim and the offsets
// before storing anything, so a failed Append stores nothing.
func (m *Memory) Append(ctx context.Context, room string, c Claim, msgs []Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockCheck(ctx, "append", room); err != nil {
		return err
	}
	r, ok := m.rooms[room]
	if !ok {
		return fmt.Errorf("memory: append %s: %w", room, ErrNoSuchRoom)
	}
	if r.epoch != c.Epoch {
		return fmt.Errorf("memory: append %s: %w: stored %s, got %s", room, ErrEpochMismatch, r.epoch, c.Epoch)
	}
	if r.fence != c.Fence {
		return fmt.Errorf("memory: append %s: %w: fence %d, latest %d", room, ErrFenced, c.Fence, r.fence)
	}
	if err := CheckBatch(r.last, msgs); err != nil {
		return fmt.Errorf("memory: append %s: %w", room, err)
	}
	for _, msg := range msgs {
		msg.Data = normData(msg.Data)
		r.msgs = append(r.msgs, msg)
	}
	if n := r.droppable(max(len(r.msgs)-MemoryRetention, 0)); n > 0 {
		clear(r.msgs[:n]) // let the dropped messages be collected
		r.msgs = r.msgs[n:]
	}
	r.last += uint64(len(msgs))
	return nil
}

// Read implements Store. An unknown room reads as an empty stream.
func (m *Memory) Read(ctx context.Context, room string, q ReadQuery) (ReadResult, error) {
	if err := CheckQuery(q); err != nil {
		return ReadResult{}, fmt.Errorf("memory: read %s: %w", room, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.lockCheck(ctx, "read", room); err != nil {
		return ReadResult{}, err
	}
	var msgs []Message
	if r := m.rooms[room]; r != nil {
		msgs = r.msgs
	}
	if q.Kind != "" {
		return readKind(msgs, q), nil
	}
	// msgs holds consecutive ascending offsets; find the page as an index range.
	var lo, hi int // page is msgs[lo:hi]
	var more bool
	switch {
	case q.After > 0:
		lo = firstAbove(msgs, q.After)
		hi = lo + min(q.Limit, len(msgs)-lo)
		more = hi < len(msgs)
	case q.Before > 0:
		hi = firstAbove(msgs, q.Before-1)
		lo = max(hi-q.Limit, 0)
		more = lo > 0
	default:
		hi = len(msgs)
		lo = max(hi-q.Limit, 0)
		more = lo > 0
	}
	return ReadResult{Messages: cloneMessages(msgs[lo:hi]), More: more}, nil
}

// firstAbove returns the index of the first message of msgs with an offset
// greater than off, or len(msgs).
func firstAbove(msgs []Message, off uint64) int {
	i, found := slices.BinarySearchFunc(msgs, off, func(m Message, o uint64) int {
		switch {
		case m.Offset < o:
			return -1
		case m.Offset > o:
			return 1
		}
		return 0
	})
	if found {
		i++
	}
	return i
}

// cloneMessages returns a copy of msgs that shares no Data buffer with it;
// never nil.
func cloneMessages(msgs []Message) []Message {
	out := make([]Message, len(msgs))
	for i, msg := range msgs {
		msg.Data = normData(msg.Data)
		out[i] = msg
	}
	return out
}

// RecentCIDs implements Store. An unknown room has no entries.
func (m *Memory) RecentCIDs(ctx context.Context, room string, window int) ([]DedupEntry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.lockCheck(ctx, "recent cids", room); err != nil {
		return nil, err
	}
	out := []DedupEntry{}
	r := m.rooms[room]
	if r == nil || window <= 0 {
		return out, nil
	}
	for _, msg := range r.msgs[max(len(r.msgs)-window, 0):] {
		if msg.CID != "" {
			out = append(out, DedupEntry{UserID: msg.FromID, CID: msg.CID, MsgID: msg.ID, Offset: msg.Offset, TS: msg.TS})
		}
	}
	return out, nil
}

// ConfigureRoom implements Store. A room it creates gets a fresh epoch and an
// empty stream.
func (m *Memory) ConfigureRoom(ctx context.Context, room string, cfg RoomConfig) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockCheck(ctx, "configure room", room); err != nil {
		return false, err
	}
	r, ok := m.rooms[room]
	if !ok {
		r = &memRoom{epoch: NewEpoch()}
		m.rooms[room] = r
	}
	r.cfg = cfg
	return !ok, nil
}

// LookupRoom implements Store.
func (m *Memory) LookupRoom(ctx context.Context, room string) (RoomInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.lockCheck(ctx, "lookup room", room); err != nil {
		return RoomInfo{}, err
	}
	r, ok := m.rooms[room]
	if !ok {
		return RoomInfo{}, fmt.Errorf("memory: lookup room %s: %w", room, ErrNoSuchRoom)
	}
	return r.info(room), nil
}

// ListRooms implements Store. Names are ordered bytewise, as the SQLite store
// orders them.
func (m *Memory) ListRooms(ctx context.Context) ([]RoomInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.lockCheck(ctx, "list rooms", ""); err != nil {
		return nil, err
	}
	out := make([]RoomInfo, 0, len(m.rooms))
	for name, r := range m.rooms {
		out = append(out, r.info(name))
	}
	slices.SortFunc(out, func(a, b RoomInfo) int { return strings.Compare(a.Room, b.Room) })
	return out, nil
}

// DeleteRoom implements Store.
func (m *Memory) DeleteRoom(ctx context.Context, room string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockCheck(ctx, "delete room", room); err != nil {
		return err
	}
	if _, ok := m.rooms[room]; !ok {
		return fmt.Errorf("memory: delete room %s: %w", room, ErrNoSuchRoom)
	}
	delete(m.rooms, room)
	return nil
}

// Ping implements Store: it fails only after Close or with a done context.
func (m *Memory) Ping(ctx context.Context) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.lockCheck(ctx, "ping", "")
}

// Close implements Store. It drops all rooms; later calls other than Close
// fail with ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.rooms = nil
	m.sessions = nil
	m.leases = nil
	return nil
}
