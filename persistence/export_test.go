package persistence

// RetainedLen returns how many messages m holds for room (0 for an unknown
// room), for the external tests of retention.
func RetainedLen(m *Memory, room string) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if r, ok := m.rooms[room]; ok {
		return len(r.msgs)
	}
	return 0
}
