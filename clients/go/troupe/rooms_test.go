package troupe

import (
	"slices"
	"testing"
)

// offsets collects the offsets of the message events in c's queue.
func queuedOffsets(c *Client) []uint64 {
	var out []uint64
	for _, ev := range c.queue {
		if m, ok := ev.(MessageEvent); ok {
			out = append(out, m.Offset)
		}
	}
	return out
}

func testClient() *Client {
	return &Client{
		opts:    Options{OnEvent: func(Event) {}, MaxQueuedEvents: 100},
		wake:    make(chan struct{}, 1),
		changed: make(chan struct{}),
		rooms:   map[string]*room{},
	}
}

func wireMsgs(offsets ...uint64) []wireMsg {
	ms := make([]wireMsg, len(offsets))
	for i, o := range offsets {
		ms[i] = wireMsg{ID: "m", Offset: o}
	}
	return ms
}

func TestRoomSkipsDeliveredAndOwnOffsets(t *testing.T) {
	c := testClient()
	r := &room{name: "r", epoch: "e1", last: 2, ready: true}
	c.rooms["r"] = r
	r.ack(4) // ours, acked before 3 arrived
	r.ack(6)
	if err := c.roomPushLocked("r", wireMsgs(1, 2, 3, 5, 5, 7)); err != nil {
		t.Fatal(err)
	}
	if got, want := queuedOffsets(c), []uint64{3, 5, 7}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v (no duplicates, no own messages)", got, want)
	}
	if r.last != 7 || len(r.own) != 0 {
		t.Errorf("last = %d own = %v, want 7 and none", r.last, r.own)
	}
	r.ack(8) // the next offset: advances at once
	if r.last != 8 {
		t.Errorf("after ack(8) last = %d, want 8", r.last)
	}
}

func TestRejoinReplaysMissedThenHeld(t *testing.T) {
	c := testClient()
	r := &room{name: "r", epoch: "e1", last: 3}
	c.rooms["r"] = r
	r.own = map[uint64]struct{}{5: {}}
	// A push that raced ahead of the rejoin's reply is held, not delivered.
	if err := c.roomPushLocked("r", wireMsgs(8)); err != nil {
		t.Fatal(err)
	}
	if len(c.queue) != 0 {
		t.Fatalf("delivered %d events while rejoining", len(c.queue))
	}
	f := &inFrame{Type: typeJoined, Room: "r", Epoch: "e1", Offset: 7, Recovered: true, Messages: wireMsgs(6, 4, 5, 7)}
	recovered, err := c.rejoinedLocked(r, f)
	if err != nil || !recovered {
		t.Fatalf("rejoinedLocked = %v, %v; want recovered", recovered, err)
	}
	rec, ok := c.queue[0].(RecoveryEvent)
	if !ok || rec.From != 3 || rec.To != 7 || rec.Replayed != 3 || !rec.Recovered {
		t.Errorf("first event %#v, want RecoveryEvent from 3 to 7 announcing 3 replays", c.queue[0])
	}
	if got, want := queuedOffsets(c), []uint64{4, 6, 7, 8}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if !r.ready || r.last != 8 {
		t.Errorf("ready=%v last=%d, want ready at 8", r.ready, r.last)
	}
}

func TestRejoinNewEpochIsAGap(t *testing.T) {
	c := testClient()
	r := &room{name: "r", epoch: "e1", last: 40}
	c.rooms["r"] = r
	f := &inFrame{Type: typeJoined, Room: "r", Epoch: "e2", Offset: 2, Recovered: false, Messages: wireMsgs(1, 2)}
	recovered, err := c.rejoinedLocked(r, f)
	if err != nil || recovered {
		t.Fatalf("rejoinedLocked = %v, %v; want not recovered", recovered, err)
	}
	rec := c.queue[0].(RecoveryEvent)
	if !rec.EpochChanged || rec.Recovered || rec.Epoch != "e2" {
		t.Errorf("got %#v, want an epoch change without recovery", rec)
	}
	if got, want := queuedOffsets(c), []uint64{1, 2}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want the new epoch's %v", got, want)
	}
}

func TestPushOverflowLeavesMessagesUndelivered(t *testing.T) {
	c := testClient()
	c.opts.MaxQueuedEvents = 2
	r := &room{name: "r", epoch: "e", ready: true}
	c.rooms["r"] = r
	err := c.roomPushLocked("r", wireMsgs(1, 2, 3))
	if err != ErrEventOverflow {
		t.Fatalf("err = %v, want ErrEventOverflow", err)
	}
	if r.last != 2 {
		t.Errorf("last = %d, want 2: offset 3 must be recovered later", r.last)
	}
}

func TestDecideClose(t *testing.T) {
	for code, want := range map[int]closeDecision{
		1001: reconnect, 1006: reconnect, 1011: reconnect, 1013: reconnect, 4000: reconnect, 4001: reconnect,
		1008: reconnectIfNew, 4002: reconnectIfNew, 4003: reconnectIfNew,
		4004: stop, 1000: stop,
	} {
		if got := decideClose(&CloseError{Code: code}); got != want {
			t.Errorf("decideClose(%d) = %d, want %d", code, got, want)
		}
	}
	if got := decideClose(ErrEventOverflow); got != reconnect {
		t.Errorf("decideClose(network error) = %d, want reconnect", got)
	}
}

func TestWSURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:9090":     "ws://127.0.0.1:9090/ws",
		"https://chat.example/":     "wss://chat.example/ws",
		"ws://h:1/ws":               "ws://h:1/ws",
		"wss://h/base":              "wss://h/base/ws",
		"http://h:2/base/?token=no": "ws://h:2/base/ws?token=no",
	} {
		u, err := wsURL(in)
		if err != nil || u.String() != want {
			t.Errorf("wsURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, bad := range []string{"ftp://h", "127.0.0.1:9090", "http://"} {
		if _, err := wsURL(bad); err == nil {
			t.Errorf("wsURL(%q) accepted", bad)
		}
	}
}
