package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troupe-chat/troupe/actors/drills"
	"github.com/troupe-chat/troupe/clients/go/troupe"
)

// member is one drill client: it sends into one room and records what it
// is delivered.
type member struct {
	name   string
	room   string
	client *troupe.Client
	ledger *ledger
	stats  *stats

	mu     sync.Mutex
	lostAt time.Time       // when the connection dropped; zero while connected
	closed error           // why the client gave up for good
	pos    troupe.Position // the last message delivered in the room
}

// stats are the run's counters, updated by every member.
type stats struct {
	sent, acked, failed, retried atomic.Int64
	reconnects, rejoins          atomic.Int64

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
	case troupe.ReconnectingEvent:
		m.mu.Lock()
		if m.lostAt.IsZero() {
			m.lostAt = time.Now()
			m.stats.reconnects.Add(1)
		}
		m.mu.Unlock()
	case troupe.RecoveredEvent:
		m.mu.Lock()
		if !m.lostAt.IsZero() {
			ms := float64(time.Since(m.lostAt).Microseconds()) / 1000
			m.lostAt = time.Time{}
			m.stats.mu.Lock()
			m.stats.reconnectMS = append(m.stats.reconnectMS, ms)
			m.stats.mu.Unlock()
		}
		m.mu.Unlock()
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

// Drill runs one drill: load, faults, settle, verify. progress receives a
// line per second while it runs.
func Drill(ctx context.Context, o Options, progress io.Writer) (Report, error) {
	api := newAPIClient(o.URL, o.APIKey)
	if err := preflight(ctx, api); err != nil {
		return Report{}, err
	}
	before, err := api.counters(ctx)
	if err != nil {
		return Report{}, err
	}
	id := runID()
	led := newLedger()
	st := &stats{clientErrors: map[string]int{}}
	members, err := openMembers(ctx, o, id, led, st)
	defer func() {
		for _, m := range members {
			_ = m.client.Close() // the verdict is in; a failed close changes nothing
		}
	}()
	if err != nil {
		return Report{}, err
	}
	fmt.Fprintf(progress, "drill %s: %d clients joined %d rooms; load for %s with faults %v\n", id, len(members), o.Rooms, o.Duration, o.Kinds)

	// Sends stop at the end of the load; a send in flight then has Settle to
	// be acked.
	sendCtx, cancelSends := context.WithTimeout(ctx, o.Duration+o.Settle)
	defer cancelSends()
	stop, stopLoad := context.WithTimeout(ctx, o.Duration)
	defer stopLoad()
	var senders sync.WaitGroup
	for _, m := range members {
		senders.Go(func() { m.sendLoop(sendCtx, stop, o.Rate) })
	}
	faults := newFaultPlan(api, o, id)
	var faulting sync.WaitGroup
	faulting.Go(func() { faults.run(ctx, stop) })
	ticker := time.NewTicker(time.Second)
	start := time.Now()
	loadDone := make(chan struct{})
	go func() {
		senders.Wait()
		faulting.Wait()
		close(loadDone)
	}()
	for waiting := true; waiting; {
		select {
		case <-loadDone:
			waiting = false
		case <-ticker.C:
			fmt.Fprintf(progress, "[%5.1fs] sent %d  acked %d  failed %d  reconnects %d  faults %s\n",
				time.Since(start).Seconds(), st.sent.Load(), st.acked.Load(), st.failed.Load(), st.reconnects.Load(), faults.status())
		}
	}
	ticker.Stop()
	settle(led, o.Settle)

	rep := Report{
		URL: o.URL, Clients: o.Clients, Rooms: o.Rooms, Duration: o.Duration.String(),
		Messages: Messages{
			Sent: int(st.sent.Load()), Acked: int(st.acked.Load()), Retried: int(st.retried.Load()), Failed: int(st.failed.Load()),
		},
		Reconnects: int(st.reconnects.Load()), Rejoins: int(st.rejoins.Load()),
	}
	for _, k := range o.Kinds {
		rep.Kinds = append(rep.Kinds, string(k))
	}
	rep.summarize(faults.reports())
	after, err := api.counters(ctx)
	if err != nil {
		return Report{}, err
	}
	rep.Restarts, rep.RoomsStopped, rep.ServerErrors = after.since(before)
	rep.DrillErrors = append(rep.DrillErrors, faults.errors()...)
	st.mu.Lock()
	rep.AckLatency = drills.Summarize(st.ackMS)
	rep.Reconnect = drills.Summarize(st.reconnectMS)
	rep.ClientErrors = st.clientErrors
	st.mu.Unlock()
	v := led.verify()
	for _, m := range members {
		m.mu.Lock()
		if m.closed != nil {
			v.Problems = append(v.Problems, fmt.Sprintf("%s gave up: %v", m.name, m.closed))
		}
		m.mu.Unlock()
	}
	rep.Verdict = v
	rep.OK = v.OK() && rep.Messages.Acked > 0
	return rep, nil
}

// preflight checks that the server answers the drill API with this key.
func preflight(ctx context.Context, api *apiClient) error {
	_, err := api.wait(ctx, "preflight")
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Status == 404:
		return nil
	case errors.As(err, &ae) && ae.Status == 401:
		return fmt.Errorf("the server refused the API key: %s", ae.Message)
	case err != nil:
		return fmt.Errorf("the drill API is not reachable: %w", err)
	default:
		return errors.New("the drill API answered an unknown drill id; is this a troupe server?")
	}
}

// openMembers dials every client and joins it to its room, a few at a time.
func openMembers(ctx context.Context, o Options, id string, led *ledger, st *stats) ([]*member, error) {
	members := make([]*member, o.Clients)
	errs := make([]error, o.Clients)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range members {
		m := &member{name: fmt.Sprintf("drill-%s-c%d", id, i), room: fmt.Sprintf("drill-%s-r%d", id, i%o.Rooms), ledger: led, stats: st}
		members[i] = m
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := troupe.Dial(ctx, troupe.Options{URL: o.URL, Name: m.name, OnEvent: m.onEvent})
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
	opened := members[:0]
	for _, m := range members {
		if m.client != nil {
			opened = append(opened, m)
		}
	}
	return opened, errors.Join(errs...)
}

// settle waits until every member has seen every acked message, or d.
func settle(led *ledger, d time.Duration) {
	deadline := time.Now().Add(d)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !led.caughtUp() && time.Now().Before(deadline) {
		<-t.C
	}
}

// faultPlan starts the chosen drills spread over the load and collects
// their reports.
type faultPlan struct {
	api   *apiClient
	o     Options
	rooms []string

	mu      sync.Mutex
	started map[string]drills.Kind // drill id → kind, while running
	done    []drills.Report
	errs    []string
}

func newFaultPlan(api *apiClient, o Options, id string) *faultPlan {
	p := &faultPlan{api: api, o: o, started: map[string]drills.Kind{}}
	for r := range o.Rooms {
		p.rooms = append(p.rooms, fmt.Sprintf("drill-%s-r%d", id, r))
	}
	return p
}

// specs returns the drills of one kind for this run.
func (p *faultPlan) specs(kind drills.Kind) []drills.Spec {
	switch kind {
	case drills.RoomCrash:
		var out []drills.Spec
		for _, r := range p.rooms {
			out = append(out, drills.Spec{Kind: kind, Room: r, Count: p.o.Crashes, IntervalMS: 300})
		}
		return out
	case drills.ConnKill:
		return []drills.Spec{{Kind: kind, Count: max(1, p.o.Clients/5)}}
	case drills.UserCrash:
		return []drills.Spec{{Kind: kind, Count: max(1, p.o.Clients/5)}}
	case drills.StoreStall:
		d := min(max(p.o.Duration/5, 500*time.Millisecond), 3*time.Second)
		return []drills.Spec{{Kind: kind, DurationMS: int(d.Milliseconds())}}
	}
	return nil
}

// run starts kind k at (k+1)/(n+1) of the load and waits for every drill.
func (p *faultPlan) run(ctx, stop context.Context) {
	var wg sync.WaitGroup
	start := time.Now()
	for i, kind := range p.o.Kinds {
		at := start.Add(p.o.Duration * time.Duration(i+1) / time.Duration(len(p.o.Kinds)+1))
		wg.Go(func() {
			t := time.NewTimer(time.Until(at))
			defer t.Stop()
			select {
			case <-t.C:
			case <-stop.Done():
				return
			}
			var each sync.WaitGroup
			for _, spec := range p.specs(kind) {
				each.Go(func() { p.one(ctx, spec) })
			}
			each.Wait()
		})
	}
	wg.Wait()
}

func (p *faultPlan) one(ctx context.Context, spec drills.Spec) {
	rep, err := p.api.start(ctx, spec)
	if err != nil {
		p.fail(spec, err)
		return
	}
	p.mu.Lock()
	p.started[rep.ID] = spec.Kind
	p.mu.Unlock()
	rep, err = p.api.wait(ctx, rep.ID)
	p.mu.Lock()
	delete(p.started, rep.ID)
	p.mu.Unlock()
	if err != nil {
		p.fail(spec, err)
		return
	}
	p.mu.Lock()
	p.done = append(p.done, rep)
	p.mu.Unlock()
}

func (p *faultPlan) fail(spec drills.Spec, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, fmt.Sprintf("%s: %v", spec.Kind, err))
}

// status describes the drills for the progress line.
func (p *faultPlan) status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	running := map[drills.Kind]int{}
	for _, k := range p.started {
		running[k]++
	}
	var parts []string
	for k, n := range running {
		parts = append(parts, fmt.Sprintf("%s×%d running", k, n))
	}
	parts = append(parts, fmt.Sprintf("%d done", len(p.done)))
	return strings.Join(parts, ", ")
}

func (p *faultPlan) reports() []drills.Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]drills.Report(nil), p.done...)
}

func (p *faultPlan) errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}
