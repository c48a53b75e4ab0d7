package persistence

import (
	"bytes"
	"context"
	"fmt"
)

// SaveSnapshot implements DocStore.
func (m *Memory) SaveSnapshot(ctx context.Context, room string, c Claim, s Snapshot) (Snapshot, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockCheck(ctx, "save snapshot", room); err != nil {
		return Snapshot{}, false, err
	}
	r, ok := m.rooms[room]
	switch {
	case !ok:
		return Snapshot{}, false, fmt.Errorf("memory: save snapshot %s: %w", room, ErrNoSuchRoom)
	case r.epoch != c.Epoch:
		return Snapshot{}, false, fmt.Errorf("memory: save snapshot %s: %w: stored %s, got %s", room, ErrEpochMismatch, r.epoch, c.Epoch)
	case r.fence != c.Fence:
		return Snapshot{}, false, fmt.Errorf("memory: save snapshot %s: %w: fence %d, latest %d", room, ErrFenced, c.Fence, r.fence)
	}
	if err := CheckSnapshot(r.last, s); err != nil {
		return Snapshot{}, false, fmt.Errorf("memory: save snapshot %s: %w", room, err)
	}
	if r.snap != nil && r.snap.Offset >= s.Offset {
		return cloneSnapshot(*r.snap), false, nil
	}
	kept := cloneSnapshot(s)
	r.snap = &kept
	return cloneSnapshot(kept), true, nil
}

// LoadSnapshot implements DocStore.
func (m *Memory) LoadSnapshot(ctx context.Context, room string) (Snapshot, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.lockCheck(ctx, "load snapshot", room); err != nil {
		return Snapshot{}, false, err
	}
	r := m.rooms[room]
	if r == nil || r.snap == nil {
		return Snapshot{}, false, nil
	}
	return cloneSnapshot(*r.snap), true, nil
}

// snapOffset is the offset of the room's snapshot, 0 without one.
func (r *memRoom) snapOffset() uint64 {
	if r.snap == nil {
		return 0
	}
	return r.snap.Offset
}

// droppable returns how many of the oldest messages, at most n, may be
// dropped without losing a document update the snapshot does not cover.
func (r *memRoom) droppable(n int) int {
	covered := r.snapOffset()
	for i, msg := range r.msgs[:n] {
		if msg.Kind == KindDoc && msg.Offset > covered {
			return i
		}
	}
	return n
}

// readKind is Read for a query with a Kind: msgs filtered by kind, then
// paged as Read pages.
func readKind(msgs []Message, q ReadQuery) ReadResult {
	page := make([]Message, 0, min(q.Limit, 256))
	more := false
	if q.After > 0 {
		for _, msg := range msgs[firstAbove(msgs, q.After):] {
			if msg.Kind != q.Kind {
				continue
			}
			if len(page) == q.Limit {
				more = true
				break
			}
			page = append(page, msg)
		}
		return ReadResult{Messages: cloneMessages(page), More: more}
	}
	hi := len(msgs)
	if q.Before > 0 {
		hi = firstAbove(msgs, q.Before-1)
	}
	for i := hi - 1; i >= 0; i-- {
		if msgs[i].Kind != q.Kind {
			continue
		}
		if len(page) == q.Limit {
			more = true
			break
		}
		page = append(page, msgs[i])
	}
	for i, j := 0, len(page)-1; i < j; i, j = i+1, j-1 {
		page[i], page[j] = page[j], page[i]
	}
	return ReadResult{Messages: cloneMessages(page), More: more}
}

// cloneSnapshot returns s with a private copy of its data.
func cloneSnapshot(s Snapshot) Snapshot {
	s.Data = bytes.Clone(s.Data)
	return s
}
