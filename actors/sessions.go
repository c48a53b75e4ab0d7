package actors

import (
	"context"
	"errors"
	"hash/fnv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-chat/troupe/persistence"
)

// sessionsActor owns every session of the node: which user it belongs to,
// which connection holds it now, and when a detached one expires. Memory is
// the fast path; the store is what another node (or this one after a
// restart) resumes from: a session is saved when its connection drops (with
// its expiry), deleted when it expires, and a resume of a session this node
// does not hold is loaded from the store. A single node saves nothing at
// connect (a connect costs no store write). A cluster node also saves each
// session as it attaches, before it answers the hello, with a lease it
// renews while the connection lasts (attachedLease), so the clients of a
// node that dies resume their sessions, and stay the same users, on the
// others: a send they retry there is then recognised by its user and cid.
// Store calls run on the actor's own lanes (sessionLanes of them, a session
// always on the same one, so its saves and deletes stay in order), in
// batches (sessionBatch: the calls that come while a lane is busy go in one
// round trip), and never block it; a failed save is logged (the session
// still works on this node).
type sessionsActor struct {
	env      *env
	self     *actor.PID
	batches  []*sessionBatch // a session's store calls run in batches[laneOf(id)]
	sessions map[string]*sessionRecord
	byConn   map[string]string // attached connection actor id → session id
	attached map[string]int    // user id → sessions with a connection (the per-user limit)
}

type sessionRecord struct {
	userID    string
	name      string
	anonymous bool
	conn      *actor.PID // nil while detached
	expires   time.Time  // when detached: the end of the grace period
	seq       uint64
	// leased is when the attached record a cluster node saved expires in
	// the store (zero on a single node, or before the first save).
	leased time.Time
}

// sessionLoaded is the store's answer to a resume of a session this node
// did not hold.
type sessionLoaded struct {
	open *openSession
	rec  persistence.SessionRecord
	err  error
}

// sessionsSweep is the sessions actor's periodic note to delete expired
// records from the store (those of nodes that died holding them).
type sessionsSweep struct{}

// sessionsSweepInterval is how often expired session records are swept
// and a cluster node renews the leases of its attached sessions.
const sessionsSweepInterval = time.Minute

// sessionLanes is how many store lanes the sessions actor spreads its store
// calls over: a reconnect storm on a cluster node loads and saves a session
// per client, and one lane would make them wait for each other's round trips.
const sessionLanes = 8

// attachedLeaseSlack is how far past the grace period a cluster node leases
// an attached session's record; it renews the lease at a sweep once less than
// the grace period and two sweeps remain, so a session whose node died can be
// resumed for at least its grace period.
const attachedLeaseSlack = 10 * time.Minute

// flushSessions asks the sessions actor to answer once every store call it
// has queued is done (shutdown: the saves of dropped sessions go first).
type flushSessions struct{ Done chan<- struct{} }

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
		s.batches = make([]*sessionBatch, sessionLanes)
		for i := range s.batches {
			s.batches[i] = newSessionBatch(s.env.store, s.env.cfg.StoreTimeout)
		}
		s.env.clock.AfterFunc(sessionsSweepInterval, func() { s.env.root.Send(s.self, &sessionsSweep{}) })
	case *actor.Stopped, *actor.Restarting:
		s.closeLane()
	case *openSession:
		s.open(ctx, m)
	case *sessionLoaded:
		s.loaded(ctx, m)
	case *sessionsSweep:
		s.sweep()
	case *flushSessions:
		s.flush(m.Done)
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
		s.save(id, rec)
		root, self, ev := s.env.root, s.self, &sessionExpiry{id: m.Session, seq: rec.seq}
		s.env.clock.AfterFunc(s.env.cfg.SessionGrace, func() { root.Send(self, ev) })
	case *sessionExpiry:
		if rec, ok := s.sessions[m.id]; ok && rec.conn == nil && rec.seq == m.seq {
			delete(s.sessions, m.id)
			s.env.metrics.SessionsActive.Dec()
			s.batchFor(m.id).enqueue(sessionOp{del: m.id, done: s.logFailure("delete session")})
		}
	}
}

// closeLane lets the lanes finish their queued calls and stop; Shutdown
// waits for them among the engine's workers.
func (s *sessionsActor) closeLane() {
	for _, b := range s.batches {
		b.lane.close()
		s.env.workers.Go(b.lane.wait)
	}
}

// batchFor returns the batches of the session id's store calls.
func (s *sessionsActor) batchFor(id string) *sessionBatch {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return s.batches[h.Sum32()%uint32(len(s.batches))]
}

// logFailure returns a sessionOp's done that logs a failed call.
func (s *sessionsActor) logFailure(what string) func(persistence.SessionRecord, error) {
	log := s.env.log
	return func(_ persistence.SessionRecord, err error) {
		if err != nil {
			log.Warn("sessions: store call failed; the session works on this node only", "call", what, "err", err)
		}
	}
}

// flush closes done once every store call queued so far on any lane is done.
func (s *sessionsActor) flush(done chan<- struct{}) {
	var left atomic.Int32
	left.Store(int32(len(s.batches)))
	for _, b := range s.batches {
		b.lane.Do(func() {
			if left.Add(-1) == 0 {
				close(done)
			}
		})
	}
}

// storeCall runs call on the lane of session id, bounded by the store
// timeout, logging a failure.
func (s *sessionsActor) storeCall(id, what string, call func(context.Context, persistence.Store) error) {
	store, timeout, log := s.env.store, s.env.cfg.StoreTimeout, s.env.log
	s.batchFor(id).lane.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := call(ctx, store); err != nil {
			log.Warn("sessions: store call failed; the session works on this node only", "call", what, "err", err)
		}
	})
}

// save writes the session's record: detached with the end of its grace, or
// attached with the end of its lease.
func (s *sessionsActor) save(id string, rec *sessionRecord) {
	r := s.record(id, rec)
	s.batchFor(id).enqueue(sessionOp{save: &r, done: s.logFailure("save session")})
}

// record is the store's view of a session: a detached one expires at the
// end of its grace, an attached one at the end of a lease from now.
func (s *sessionsActor) record(id string, rec *sessionRecord) persistence.SessionRecord {
	r := persistence.SessionRecord{ID: id, UserID: rec.userID, Name: rec.name, Anonymous: rec.anonymous, Expires: rec.expires}
	if rec.conn != nil {
		rec.leased = s.env.clock.Now().Add(s.env.cfg.SessionGrace + attachedLeaseSlack)
		r.Expires = rec.leased
	}
	return r
}

// opened tells the connection its session is open. On a cluster node the
// session's record is saved first, so that once the client has a session
// any node can resume it; a node cut off from the cluster (it refuses sends
// anyway) welcomes at once and saves in the background, rather than hold the
// hello for the store's timeout.
func (s *sessionsActor) opened(ctx actor.Context, rec *sessionRecord, m *sessionOpened, conn *actor.PID) {
	if s.env.cluster == nil {
		ctx.Send(conn, m)
		return
	}
	if !s.env.cluster.Healthy() {
		s.save(m.Session, rec)
		ctx.Send(conn, m)
		return
	}
	r := s.record(m.Session, rec)
	log, root := s.env.log, s.env.root
	s.batchFor(m.Session).enqueue(sessionOp{save: &r, done: func(_ persistence.SessionRecord, err error) {
		if err != nil {
			log.Warn("sessions: saving an attached session failed; it resumes on this node only", "err", err)
		}
		root.Send(conn, m)
	}})
}

// renewLeases re-saves the attached sessions whose lease in the store runs
// out before the next sweeps could renew it (cluster nodes only).
func (s *sessionsActor) renewLeases() {
	if s.env.cluster == nil {
		return
	}
	due := s.env.clock.Now().Add(s.env.cfg.SessionGrace + 2*sessionsSweepInterval)
	for id, rec := range s.sessions {
		if rec.conn != nil && rec.leased.Before(due) {
			s.save(id, rec)
		}
	}
}

// sweep deletes a batch of expired records from the store and arms the next sweep.
func (s *sessionsActor) sweep() {
	s.renewLeases()
	now := s.env.clock.Now()
	s.storeCall("", "sweep sessions", func(ctx context.Context, store persistence.Store) error {
		_, err := store.DeleteExpiredSessions(ctx, now, 1000)
		return err
	})
	root, self := s.env.root, s.self
	s.env.clock.AfterFunc(sessionsSweepInterval, func() { root.Send(self, &sessionsSweep{}) })
}

// load asks the store for a session this node does not hold; the answer
// comes back as a sessionLoaded.
func (s *sessionsActor) load(m *openSession) {
	root, self := s.env.root, s.self
	s.batchFor(m.Requested).enqueue(sessionOp{load: m.Requested, done: func(rec persistence.SessionRecord, err error) {
		root.Send(self, &sessionLoaded{open: m, rec: rec, err: err})
	}})
}

// loaded adopts a session record from the store as a detached session of
// this node, then handles the open that asked for it. A record that is
// missing, unreadable or expired opens a new session instead.
func (s *sessionsActor) loaded(ctx actor.Context, m *sessionLoaded) {
	if _, held := s.sessions[m.open.Requested]; !held {
		switch {
		case errors.Is(m.err, persistence.ErrNoSuchSession):
		case m.err != nil:
			s.env.log.Warn("sessions: loading a session failed; opening a new one", "err", m.err)
		case !m.rec.Expires.IsZero() && !s.env.clock.Now().Before(m.rec.Expires):
		default:
			s.sessions[m.rec.ID] = &sessionRecord{userID: m.rec.UserID, name: m.rec.Name, anonymous: m.rec.Anonymous,
				expires: s.env.clock.Now().Add(s.env.cfg.SessionGrace)}
			s.env.metrics.SessionsActive.Inc()
		}
	}
	s.openHeld(ctx, m.open)
}

func (s *sessionsActor) open(ctx actor.Context, m *openSession) {
	if _, held := s.sessions[m.Requested]; m.Requested != "" && !held {
		s.load(m)
		return
	}
	s.openHeld(ctx, m)
}

// openHeld resumes the requested session if this node holds it and the
// connection may take it, and opens a new session otherwise.
func (s *sessionsActor) openHeld(ctx actor.Context, m *openSession) {
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
		rec.name = m.Name
		s.env.metrics.SessionsOpened.WithLabelValues("resumed").Inc()
		s.opened(ctx, rec, &sessionOpened{Session: m.Requested, UserID: rec.userID, Name: m.Name, Resumed: true}, m.Conn)
		return
	}
	id := "s_" + randomHex(16)
	rec := &sessionRecord{userID: m.UserID, name: m.Name, conn: m.Conn}
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
	s.env.metrics.SessionsOpened.WithLabelValues("new").Inc()
	s.opened(ctx, rec, &sessionOpened{Session: id, UserID: rec.userID, Name: m.Name}, m.Conn)
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
