package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// sessionsActor owns every session of the node: which user it belongs to,
// which connection holds it now, and when a detached one expires.
type sessionsActor struct {
	env      *env
	self     *actor.PID
	sessions map[string]*sessionRecord
	byConn   map[string]string // attached connection actor id → session id
	attached map[string]int    // user id → sessions with a connection (the per-user limit)
}

type sessionRecord struct {
	userID    string
	anonymous bool
	conn      *actor.PID // nil while detached
	expires   time.Time  // when detached: the end of the grace period
	seq       uint64
}

type sessionExpiry struct {
	id  string
	seq uint64
}

func newSessionsProps(e *env) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &sessionsActor{env: e, sessions: make(map[string]*sessionRecord), byConn: make(map[string]string),
			attached: make(map[string]int)}
	}, actor.WithGuardian(e.sessionsStrategy))
}

// Receive implements actor.Actor.
func (s *sessionsActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.self = ctx.Self()
	case *openSession:
		s.open(ctx, m)
	case *detachSession:
		id := m.Session
		if id == "" {
			id = s.byConn[m.Conn.Id]
		}
		rec, ok := s.sessions[id]
		if !ok || rec.conn == nil || !rec.conn.Equal(m.Conn) {
			return
		}
		delete(s.byConn, m.Conn.Id)
		m.Session = id
		rec.conn = nil
		s.release(rec.userID)
		rec.expires = s.env.clock.Now().Add(s.env.cfg.SessionGrace)
		rec.seq++
		root, self, ev := s.env.root, s.self, &sessionExpiry{id: m.Session, seq: rec.seq}
		s.env.clock.AfterFunc(s.env.cfg.SessionGrace, func() { root.Send(self, ev) })
	case *sessionExpiry:
		if rec, ok := s.sessions[m.id]; ok && rec.conn == nil && rec.seq == m.seq {
			delete(s.sessions, m.id)
			s.env.metrics.SessionsActive.Dec()
		}
	}
}

func (s *sessionsActor) open(ctx actor.Context, m *openSession) {
	if rec := s.resumable(m); rec != nil {
		switch {
		case rec.conn != nil && !rec.conn.Equal(m.Conn):
			// A takeover: the user's count of connections stays.
			ctx.Send(rec.conn, &takenOver{})
			delete(s.byConn, rec.conn.Id)
		case rec.conn == nil:
			if !s.admit(ctx, m, rec.userID) {
				return
			}
		}
		rec.conn = m.Conn
		s.byConn[m.Conn.Id] = m.Requested
		rec.seq++
		ctx.Send(m.Conn, &sessionOpened{Session: m.Requested, UserID: rec.userID, Name: m.Name, Resumed: true})
		return
	}
	id := "s_" + randomHex(16)
	rec := &sessionRecord{userID: m.UserID, conn: m.Conn}
	if m.UserID == "" {
		rec.anonymous = true
		rec.userID = "anon-" + randomHex(8)
	}
	if !s.admit(ctx, m, rec.userID) {
		return
	}
	s.sessions[id] = rec
	s.byConn[m.Conn.Id] = id
	s.env.metrics.SessionsActive.Inc()
	ctx.Send(m.Conn, &sessionOpened{Session: id, UserID: rec.userID, Name: m.Name})
}

// admit counts one more connection for user, or refuses the session when
// the user is at --max-conns-per-user.
func (s *sessionsActor) admit(ctx actor.Context, m *openSession, user string) bool {
	if limit := s.env.cfg.MaxConnsPerUser; limit > 0 && s.attached[user] >= limit {
		s.env.metrics.LimitRejections.WithLabelValues("conns_per_user").Inc()
		ctx.Send(m.Conn, &sessionRefused{Limit: limit})
		return false
	}
	s.attached[user]++
	return true
}

// release counts one connection of user less.
func (s *sessionsActor) release(user string) {
	if s.attached[user] <= 1 {
		delete(s.attached, user)
		return
	}
	s.attached[user]--
}

// resumable returns the requested session when the new connection may take it:
// it exists, has not expired, and belongs to the same user (the same sub, or
// an anonymous user resuming an anonymous session).
func (s *sessionsActor) resumable(m *openSession) *sessionRecord {
	if m.Requested == "" {
		return nil
	}
	rec, ok := s.sessions[m.Requested]
	if !ok {
		return nil
	}
	if rec.conn == nil && !s.env.clock.Now().Before(rec.expires) {
		return nil
	}
	if m.UserID == "" {
		if !rec.anonymous {
			return nil
		}
	} else if rec.anonymous || rec.userID != m.UserID {
		return nil
	}
	return rec
}
