package drill

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troupe-chat/troupe/clients/go/troupe"
)

// member is one drill client: it sends into one room and records what it
// is delivered.
type member struct {
	name   string
	room   string
	home   int  // the node it connects to first
	listen bool // receives only: sends nothing
	client *troupe.Client
	ledger *ledger
	stats  *stats
	times  *faultTimes

	mu     sync.Mutex
	lostAt time.Time       // when the connection dropped; zero while connected
	closed error           // why the client gave up for good
	pos    troupe.Position // the last message delivered in the room
	node   int             // the node of its latest connection
}

// connectedTo records the node the member's latest connection went to.
func (m *member) connectedTo(node int) {
	m.mu.Lock()
	m.node = node
	m.mu.Unlock()
}

// currentNode returns the node of the member's latest connection.
func (m *member) currentNode() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}

// stats are the run's counters, updated by every member.
type stats struct {
	sent, acked, failed, retried atomic.Int64
	reconnects, rejoins          atomic.Int64
	// newSessions counts reconnects the server did not resume the session
	// of: the client came back as a new user.
	newSessions atomic.Int64

	mu           sync.Mutex
	ackMS        []float64
	reconnectMS  []float64
	clientErrors map[string]int
}

func (s *stats) addError(err error) {
	code := troupe.ErrorCode(err)
	if code == "" {
		code = "other"
	}
	s.mu.Lock()
	s.clientErrors[code]++
	s.mu.Unlock()
}

// onEvent records deliveries and reconnects.
func (m *member) onEvent(ev troupe.Event) {
	switch e := ev.(type) {
	case troupe.MessageEvent:
		if e.Room == m.room {
			m.ledger.delivered(e.Room, m.name, e.Text, e.Offset)
			m.mu.Lock()
			m.pos = troupe.Position{Epoch: e.Epoch, Offset: e.Offset}
			m.mu.Unlock()
		}
	case troupe.ConnectedEvent:
		if e.Reconnect && !e.Resumed {
			m.stats.newSessions.Add(1)
		}
	case troupe.ReconnectingEvent:
		m.mu.Lock()
		if m.lostAt.IsZero() {
			m.lostAt = time.Now()
			m.stats.reconnects.Add(1)
		}
		m.mu.Unlock()
	case troupe.RecoveredEvent:
		if len(e.Failed) == 0 {
			m.times.rejoined(m.name, m.currentNode(), time.Now())
		}
		m.mu.Lock()
		if !m.lostAt.IsZero() {
			ms := float64(time.Since(m.lostAt).Microseconds()) / 1000
			m.lostAt = time.Time{}
			m.stats.mu.Lock()
			m.stats.reconnectMS = append(m.stats.reconnectMS, ms)
			m.stats.mu.Unlock()
		}
		m.mu.Unlock()
	case troupe.RejoinFailedEvent:
		// The server refused the room after a reconnect: the client no
		// longer tracks it, so the report shows why.
		m.stats.addError(e.Err)
	case troupe.ClosedEvent:
		if e.Err != nil {
			m.mu.Lock()
			m.closed = e.Err
			m.mu.Unlock()
		}
	}
}

// sendLoop sends sequenced messages at rate until stop is done; each send is
// retried by the client until acked or until ctx ends.
func (m *member) sendLoop(ctx, stop context.Context, rate float64) {
	if m.listen {
		return
	}
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-stop.Done():
			return
		case <-t.C:
		}
		cid := fmt.Sprintf("%s/%d", m.name, seq)
		m.stats.sent.Add(1)
		start := time.Now()
		msg := troupe.Message{Text: cid, CID: cid}
		ack, err := m.client.Send(ctx, m.room, msg)
		for troupe.ErrorCode(err) == troupe.CodeNotJoined && ctx.Err() == nil {
			// The room went past its restart budget and closed: join it
			// again, as an app would, and send the same message again.
			if err = m.rejoin(ctx); err == nil {
				ack, err = m.client.Send(ctx, m.room, msg)
			}
		}
		if err != nil {
			m.stats.failed.Add(1)
			m.stats.addError(err)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		ms := float64(time.Since(start).Microseconds()) / 1000
		m.stats.acked.Add(1)
		if ack.Attempts > 1 {
			m.stats.retried.Add(int64(ack.Attempts - 1))
		}
		m.stats.mu.Lock()
		m.stats.ackMS = append(m.stats.ackMS, ms)
		m.stats.mu.Unlock()
		m.ledger.acked(m.room, m.name, cid, ack.Offset)
		m.times.acked(m.room, start, time.Now())
	}
}

// rejoin joins the member's room again after it was closed, recovering what
// it missed since its last delivered message.
func (m *member) rejoin(ctx context.Context) error {
	m.mu.Lock()
	pos := m.pos
	m.mu.Unlock()
	var opts []troupe.JoinOption
	if pos.Epoch != "" {
		opts = append(opts, troupe.WithSince(pos))
	}
	j, err := m.client.Join(ctx, m.room, opts...)
	if err != nil {
		return err
	}
	m.stats.rejoins.Add(1)
	for _, msg := range j.Messages {
		if msg.Offset > pos.Offset {
			m.ledger.replayed(m.room, m.name, msg.Text, msg.Offset)
		}
	}
	if pos.Epoch != "" && !j.Recovered {
		return fmt.Errorf("rejoin %s: the server could not recover from offset %d", m.room, pos.Offset)
	}
	return nil
}

// roomName names room r of run id.
func roomName(id string, r int) string { return fmt.Sprintf("drill-%s-r%d", id, r) }

// homeNode places client i, a member of room i mod rooms, on one of nodes:
// the k-th member of room r connects to node (r+k) mod nodes, so each room
// has members on every node and every node has clients.
func homeNode(i, rooms, nodes int) int { return (i%rooms + i/rooms) % nodes }

// ownedRooms returns the rooms of run id that node owns: the first member
// of room r joins it first, on node r mod nodes, and so claims it.
func ownedRooms(id string, rooms, nodes, node int) []string {
	var out []string
	for r := range rooms {
		if r%nodes == node {
			out = append(out, roomName(id, r))
		}
	}
	return out
}

// openMembers dials every client and joins it to its room, a few at a time:
// first the first member of each room, so that its node claims the room,
// then the others.
func openMembers(ctx context.Context, o Options, id string, led *ledger, st *stats, nodes *nodeSet, times *faultTimes) ([]*member, error) {
	members := make([]*member, o.Clients+o.Listeners)
	errs := make([]error, len(members))
	for i := range members {
		members[i] = &member{name: fmt.Sprintf("drill-%s-c%d", id, i), room: roomName(id, i%o.Rooms),
			home: homeNode(i, o.Rooms, len(nodes.urls)), ledger: led, stats: st, times: times}
		if i >= o.Clients {
			members[i].home, members[i].listen = 0, true
		}
	}
	openEach(ctx, members[:o.Rooms], errs, led, nodes)
	openEach(ctx, members[o.Rooms:], errs[o.Rooms:], led, nodes)
	opened := members[:0]
	for _, m := range members {
		if m.client != nil {
			opened = append(opened, m)
		}
	}
	return opened, errors.Join(errs...)
}

// openEach dials members and joins each to its room, 32 at a time; errs[i]
// receives members[i]'s failure.
func openEach(ctx context.Context, members []*member, errs []error, led *ledger, nodes *nodeSet) {
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := troupe.Dial(ctx, troupe.Options{URL: nodes.urls[m.home], Name: m.name, OnEvent: m.onEvent,
				DialContext: nodes.dialer(m.home, i, m.connectedTo)})
			if err != nil {
				errs[i] = fmt.Errorf("client %s: %w", m.name, err)
				return
			}
			m.client = c
			led.join(m.room, m.name)
			if _, err := c.Join(ctx, m.room); err != nil {
				errs[i] = fmt.Errorf("client %s: join %s: %w", m.name, m.room, err)
			}
		})
	}
	wg.Wait()
}

// settle waits until every member has seen every acked message, or d, or
// ctx ends.
func settle(ctx context.Context, led *ledger, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !led.caughtUp() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
