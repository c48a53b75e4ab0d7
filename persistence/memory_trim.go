package persistence

import (
	"context"
	"fmt"
)

// Trim implements Store. An unknown room has nothing to trim.
func (m *Memory) Trim(ctx context.Context, room string, req TrimRequest) (int, error) {
	if err := CheckTrim(req); err != nil {
		return 0, fmt.Errorf("memory: trim %s: %w", room, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockCheck(ctx, "trim", room); err != nil {
		return 0, err
	}
	r := m.rooms[room]
	if r == nil {
		return 0, nil
	}
	n := 0
	for n < len(r.msgs) && n < req.Limit && req.Matches(r.msgs[n]) {
		n++
	}
	n = r.droppable(n)
	clear(r.msgs[:n]) // let the trimmed messages be collected
	r.msgs = r.msgs[n:]
	return n, nil
}

// OldestOffset implements Store.
func (m *Memory) OldestOffset(ctx context.Context, room string) (uint64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.lockCheck(ctx, "oldest offset", room); err != nil {
		return 0, err
	}
	if r := m.rooms[room]; r != nil && len(r.msgs) > 0 {
		return r.msgs[0].Offset, nil
	}
	return 0, nil
}
