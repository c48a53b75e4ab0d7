package actors

import "github.com/asynkron/protoactor-go/actor"

// member is one connection in a room.
type member struct {
	conn  *actor.PID
	peer  Outbox
	user  UserRef
	index int    // position in memberSet.list
	tag   string // the connection as clients see it (env.connTag)
	state []byte // the presence state it set, nil for none
}

// presence is one distinct user in a room.
type presence struct {
	user    UserRef
	conns   int
	leaving uint64 // nonzero: the user has no connection left and leaves when the grace timer with this token fires
}

// memberSet is a room's membership: connections in a slice for fast broadcast
// and by id for lookups, and the distinct users with their connection counts.
type memberSet struct {
	list   []*member
	byConn map[string]*member
	users  map[string]*presence
}

func newMemberSet() memberSet {
	return memberSet{byConn: make(map[string]*member), users: make(map[string]*presence)}
}

func (s *memberSet) get(conn *actor.PID) *member { return s.byConn[conn.Id] }

// add inserts a connection and reports whether its user is new to the room's
// presence (neither present nor within its leave grace).
func (s *memberSet) add(m *member) (newUser bool) {
	m.index = len(s.list)
	s.list = append(s.list, m)
	s.byConn[m.conn.Id] = m
	p, ok := s.users[m.user.ID]
	if !ok {
		p = &presence{user: m.user}
		s.users[m.user.ID] = p
		newUser = true
	}
	p.conns++
	p.leaving = 0
	p.user.Name = m.user.Name
	return newUser
}

// remove deletes a connection and returns its presence entry, which has zero
// connections when this was the user's last one.
func (s *memberSet) remove(m *member) *presence {
	last := s.list[len(s.list)-1]
	s.list[m.index] = last
	last.index = m.index
	s.list = s.list[:len(s.list)-1]
	delete(s.byConn, m.conn.Id)
	p := s.users[m.user.ID]
	p.conns--
	return p
}
