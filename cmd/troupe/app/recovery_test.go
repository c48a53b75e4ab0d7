package app_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recv returns the next frame without failing the test, for client loops that
// run on their own goroutines.
func (c *rawClient) recv(wait time.Duration) (map[string]any, error) {
	select {
	case f := <-c.frames:
		<-c.raw
		return f, nil
	case <-c.closed:
		select {
		case f := <-c.frames:
			<-c.raw
			return f, nil
		default:
		}
		return nil, fmt.Errorf("connection closed with %d", c.code())
	case <-time.After(wait):
		return nil, errors.New("no frame in time")
	}
}

// streamLog is what one client saw of a room's stream: message offsets in
// arrival order, the text at each offset, and room_restarted notices.
type streamLog struct {
	order    []uint64
	texts    map[uint64]string
	restarts int
}

func newStreamLog() *streamLog { return &streamLog{texts: make(map[uint64]string)} }

// messagesOf returns the messages a message or batch frame carries (none for
// other frames).
func messagesOf(f map[string]any) []map[string]any {
	var raw []any
	switch f["type"] {
	case "message":
		raw = []any{f["msg"]}
	case "batch":
		raw, _ = f["msgs"].([]any)
	}
	out := make([]map[string]any, 0, len(raw))
	for _, m := range raw {
		out = append(out, m.(map[string]any))
	}
	return out
}

// take records a message or batch frame; it reports false for other frames.
func (s *streamLog) take(f map[string]any) bool {
	switch f["type"] {
	case "message", "batch":
	case "system":
		if f["event"] == "room_restarted" {
			s.restarts++
		}
		return true
	default:
		return false
	}
	for _, m := range messagesOf(f) {
		off := uint64(m["offset"].(float64))
		s.order = append(s.order, off)
		s.texts[off] = m["text"].(string)
	}
	return true
}

// check reports duplicates, reordering and texts that differ from want
// (offset → text); every offset of want must have arrived.
func (s *streamLog) check(want map[uint64]string) error {
	var errs []error
	for i := 1; i < len(s.order); i++ {
		if s.order[i] <= s.order[i-1] {
			errs = append(errs, fmt.Errorf("offset %d arrived after %d (duplicate or out of order)", s.order[i], s.order[i-1]))
		}
	}
	for off, text := range want {
		if got, ok := s.texts[off]; !ok {
			errs = append(errs, fmt.Errorf("offset %d (%s) never arrived", off, text))
		} else if got != text {
			errs = append(errs, fmt.Errorf("offset %d: got %q, want %q", off, got, text))
		}
	}
	if len(s.texts) != len(want) {
		errs = append(errs, fmt.Errorf("got %d messages, want %d", len(s.texts), len(want)))
	}
	return errors.Join(errs...)
}

// publisher sends count messages with client ids through a window of
// outstanding sends, resending (same cid) whatever is answered unavailable, as a
// real client does, while it records the stream it receives.
type publisher struct {
	c       *rawClient
	name    string
	acks    map[string]uint64 // cid → offset
	stream  *streamLog
	resends int // sends answered unavailable and sent again
}

func (p *publisher) run(room string, count, window, expectOthers int, progress chan<- struct{}) error {
	p.acks = make(map[string]uint64)
	p.stream = newStreamLog()
	var id int64
	outstanding := make(map[int64]string)
	var retry []string
	next := 0
	for len(p.acks) < count || len(p.stream.texts) < expectOthers {
		for len(outstanding) < window && (len(retry) > 0 || next < count) {
			var cid string
			if len(retry) > 0 {
				cid, retry = retry[0], retry[1:]
			} else {
				cid = fmt.Sprintf("%s-%d", p.name, next)
				next++
			}
			id++
			outstanding[id] = cid
			if err := p.c.conn.WriteString(fmt.Sprintf(`{"type":"send","id":%d,"room":%q,"text":%q,"cid":%q}`, id, room, cid, cid)); err != nil {
				return err
			}
		}
		f, err := p.c.recv(frameWait)
		if err != nil {
			return fmt.Errorf("%s: %w (acked %d, saw %d)", p.name, err, len(p.acks), len(p.stream.texts))
		}
		if p.stream.take(f) || f["type"] == "presence_diff" || f["type"] == "typing" {
			continue
		}
		rid, _ := f["id"].(float64)
		cid, ok := outstanding[int64(rid)]
		if !ok {
			return fmt.Errorf("%s: unexpected frame %v", p.name, f)
		}
		delete(outstanding, int64(rid))
		switch {
		case f["type"] == "ack":
			if _, seen := p.acks[cid]; !seen {
				progress <- struct{}{}
			}
			p.acks[cid] = uint64(f["offset"].(float64))
		case f["type"] == "error" && f["code"] == "unavailable":
			retry = append(retry, cid)
			p.resends++
		default:
			return fmt.Errorf("%s: send %s answered %v", p.name, cid, f)
		}
	}
	return nil
}

// TestRoomCrashesLoseNothing crashes a room three times while two publishers
// stream into it: the room restarts, keeps its members, and every message is
// acked once, stored once and delivered once, in order, to every other member.
func TestRoomCrashesLoseNothing(t *testing.T) {
	a := startServer(t, "--rate-limit", "0")
	const room, count, crashes = "drill", 300, 3
	names := []string{"pub-a", "pub-b"}
	pubs := make([]*publisher, len(names))
	for i, name := range names {
		c := mustDial(t, a.Addr.String())
		c.hello(name)
		if f := c.request(map[string]any{"type": "join", "room": room}); f["type"] != "joined" {
			t.Fatalf("join: %v", f)
		}
		pubs[i] = &publisher{c: c, name: name}
	}
	watcher := mustDial(t, a.Addr.String())
	watcher.hello("watcher")
	if f := watcher.request(map[string]any{"type": "join", "room": room}); f["type"] != "joined" {
		t.Fatalf("join: %v", f)
	}

	progress := make(chan struct{}, len(pubs)*count)
	errs := make(chan error, len(pubs)+1)
	var wg sync.WaitGroup
	for _, p := range pubs {
		wg.Go(func() { errs <- p.run(room, count, 16, count, progress) })
	}
	watched := newStreamLog()
	wg.Go(func() {
		for len(watched.texts) < len(pubs)*count || watched.restarts < crashes {
			f, err := watcher.recv(frameWait)
			if err != nil {
				errs <- fmt.Errorf("watcher: %w (saw %d)", err, len(watched.texts))
				return
			}
			watched.take(f)
		}
		errs <- nil
	})

	// Crash the room at a quarter, half and three quarters of the acks.
	acked := 0
	for crash := 1; crash <= crashes; crash++ {
		for acked < crash*len(pubs)*count/(crashes+1) {
			select {
			case <-progress:
				acked++
			case err := <-errs:
				t.Fatalf("client ended early: %v", err)
			}
		}
		if !a.Engine().CrashRoom(room) {
			t.Fatalf("room %s is not active", room)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	all := make(map[uint64]string)
	for _, p := range pubs {
		if len(p.acks) != count {
			t.Fatalf("%s: %d acks, want %d", p.name, len(p.acks), count)
		}
		for cid, off := range p.acks {
			if prev, dup := all[off]; dup {
				t.Fatalf("offset %d acked for both %s and %s", off, prev, cid)
			}
			all[off] = cid
		}
	}
	for off := uint64(1); off <= uint64(len(all)); off++ {
		if _, ok := all[off]; !ok {
			t.Fatalf("offset %d was never acked: the stream has a gap", off)
		}
	}
	if err := watched.check(all); err != nil {
		t.Errorf("watcher: %v", err)
	}
	if watched.restarts != crashes {
		t.Errorf("watcher saw %d room_restarted notices, want %d", watched.restarts, crashes)
	}
	for _, p := range pubs {
		others := make(map[uint64]string)
		for off, cid := range all {
			if _, own := p.acks[cid]; !own {
				others[off] = cid
			}
		}
		if err := p.stream.check(others); err != nil {
			t.Errorf("%s: %v", p.name, err)
		}
	}
	t.Logf("resends after unavailable: %s %d, %s %d", pubs[0].name, pubs[0].resends, pubs[1].name, pubs[1].resends)
	for _, s := range a.Engine().Rooms() {
		if s.Room == room && s.Restarts != crashes {
			t.Errorf("room reports %d restarts, want %d", s.Restarts, crashes)
		}
	}
}

// call sends a request with the given id and returns its reply, skipping
// pushes; it does not fail the test, for client loops on their own goroutines.
func (c *rawClient) call(id int64, frame string) (map[string]any, error) {
	if err := c.conn.WriteString(frame); err != nil {
		return nil, err
	}
	for {
		f, err := c.recv(frameWait)
		if err != nil {
			return nil, fmt.Errorf("waiting for reply to %s: %w", frame, err)
		}
		if n, ok := f["id"].(float64); ok && int64(n) == id {
			return f, nil
		}
	}
}

// TestIdleRoomsRetireWithoutDroppingRequests stops rooms as soon as they are
// empty while clients keep joining, sending to and leaving them (pipelined, so
// requests sit in a room's mailbox when it decides to stop): every request is
// answered, and each room's stream continues across its incarnations.
func TestIdleRoomsRetireWithoutDroppingRequests(t *testing.T) {
	a := startServer(t, "--rate-limit", "0", "--room-idle-timeout", "1ms")
	const clients, rounds = 8, 150
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		c := mustDial(t, a.Addr.String())
		c.hello(fmt.Sprintf("client-%d", i))
		room := fmt.Sprintf("idle-%d", i%4) // two clients share each room
		wg.Go(func() {
			errs <- func() error {
				var last uint64
				for round := range rounds {
					id := int64(round * 3)
					frames := fmt.Sprintf(`{"type":"join","id":%d,"room":%q,"history":0}`, id+1, room) +
						fmt.Sprintf("\x00"+`{"type":"send","id":%d,"room":%q,"text":"r%d","cid":"c%d"}`, id+2, room, round, round) +
						fmt.Sprintf("\x00"+`{"type":"leave","id":%d,"room":%q}`, id+3, room)
					for _, f := range strings.Split(frames, "\x00") {
						if err := c.conn.WriteString(f); err != nil {
							return err
						}
					}
					want := map[int64]string{id + 1: "joined", id + 2: "ack", id + 3: "left"}
					for len(want) > 0 {
						f, err := c.recv(frameWait)
						if err != nil {
							return fmt.Errorf("round %d: %w; unanswered %v", round, err, want)
						}
						n, ok := f["id"].(float64)
						if !ok {
							continue
						}
						if f["type"] != want[int64(n)] {
							return fmt.Errorf("round %d: got %v, want %s", round, f, want[int64(n)])
						}
						delete(want, int64(n))
						if f["type"] == "ack" {
							off := uint64(f["offset"].(float64))
							if off <= last {
								return fmt.Errorf("round %d: offset %d after %d: the stream restarted", round, off, last)
							}
							last = off
						}
					}
				}
				return nil
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
