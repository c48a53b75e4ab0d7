package app_test

import (
	"fmt"
	"testing"
	"time"
)

// roomLoad is clients on several nodes pipelining sends to one room, each
// keeping a window of sends in flight with a client id, and the checks every
// cluster fault test makes: an acked client id keeps its offset, no client
// is pushed an offset twice or told two messages at one offset, and at the
// end the store holds every acked message once, at its acked offset, with no
// gap, and every client has heard of every offset.
type roomLoad struct {
	t       *testing.T
	room    string
	clients []*rawClient
	acked   map[string]float64 // client id → acked offset
	// told[i] is what client i heard at each offset (as a push or as the
	// ack of its own send): the message's text, which is its client id.
	told   []map[float64]string
	pushed []map[float64]bool
	sent   []int
	acks   []int // acks each client got
	sentAt []map[int]time.Time
	// ackedAfter, once mark is set, is the first ack of a send made after it.
	mark       time.Time
	ackedAfter time.Duration
	// paused clients are not read while their node is stopped.
	paused []bool
	// draining, set by verify, sends nothing new.
	draining bool
	// refused counts each client's sends answered unavailable; retries
	// holds them until they are sent again.
	refused []int
	retries []retry
	// cutClient's sends made after cutSince must not be acked while
	// cutSince is set (its node is cut off).
	cutClient int
	cutSince  time.Time
}

// retry is a send answered unavailable, sent again at due.
type retry struct {
	client, n int
	due       time.Time
}

// retryPause is how long a client waits before sending a refused send again.
const retryPause = 20 * time.Millisecond

func newRoomLoad(t *testing.T, room string, clients []*rawClient) *roomLoad {
	l := &roomLoad{t: t, room: room, clients: clients, acked: map[string]float64{}}
	for range clients {
		l.told = append(l.told, map[float64]string{})
		l.pushed = append(l.pushed, map[float64]bool{})
		l.sent = append(l.sent, 0)
		l.acks = append(l.acks, 0)
		l.refused = append(l.refused, 0)
		l.sentAt = append(l.sentAt, map[int]time.Time{})
		l.paused = append(l.paused, false)
	}
	return l
}

func (l *roomLoad) cid(i, n int) string { return fmt.Sprintf("c%d-%d", i, n) }

// start puts window sends of every client in flight.
func (l *roomLoad) start(window int) {
	for i := range l.clients {
		for range window {
			l.send(i)
		}
	}
}

func (l *roomLoad) send(i int) {
	l.sent[i]++
	n := l.sent[i]
	l.sentAt[i][n] = time.Now()
	l.resend(i, n)
}

func (l *roomLoad) resend(i, n int) {
	cid := l.cid(i, n)
	l.clients[i].sendJSON(map[string]any{"type": "send", "id": n, "room": l.room, "text": cid, "cid": cid})
}

// markNow starts timing: ackedAfter becomes the time to the first ack of a
// send made after now.
func (l *roomLoad) markNow() { l.mark, l.ackedAfter = time.Now(), 0 }

// run reads and answers frames until done reports true or the minute ends.
func (l *roomLoad) run(what string, done func() bool) {
	l.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !done() {
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: not within a minute (%d acked; acks per client %v, refused %v, sent %v, %d retries waiting, first ack after the mark %v)",
				what, len(l.acked), l.acks, l.refused, l.sent, len(l.retries), l.ackedAfter)
		}
		l.step()
	}
}

// step sends the retries that are due and handles at most one frame of
// each client.
func (l *roomLoad) step() {
	l.t.Helper()
	now := time.Now()
	kept := l.retries[:0]
	for _, r := range l.retries {
		if now.Before(r.due) || l.paused[r.client] {
			kept = append(kept, r)
			continue
		}
		l.resend(r.client, r.n)
	}
	l.retries = kept
	for i, c := range l.clients {
		if l.paused[i] {
			continue
		}
		select {
		case f := <-c.frames:
			<-c.raw
			l.handle(i, f)
		case <-time.After(time.Millisecond):
		}
	}
}

func (l *roomLoad) handle(i int, f map[string]any) {
	l.t.Helper()
	switch f["type"] {
	case "ack":
		n := int(f["id"].(float64))
		cid, off := l.cid(i, n), f["offset"].(float64)
		if i == l.cutClient && !l.cutSince.IsZero() && l.sentAt[i][n].After(l.cutSince) {
			l.t.Fatalf("client %d's send %s, made after its node was cut off, was acked at %v", i, cid, off)
		}
		if prev, ok := l.acked[cid]; ok && prev != off {
			l.t.Fatalf("%s acked at %v and %v", cid, prev, off)
		}
		l.acked[cid] = off
		l.acks[i]++
		l.tell(i, off, cid)
		if !l.mark.IsZero() && l.ackedAfter == 0 && l.sentAt[i][n].After(l.mark) {
			l.ackedAfter = time.Since(l.mark)
		}
		if f["dup"] != true && !l.draining {
			l.send(i)
		}
	case "error":
		// unavailable while the room is re-placed: send again, same cid
		if n, ok := f["id"].(float64); ok && f["code"] == "unavailable" {
			l.refused[i]++
			l.retries = append(l.retries, retry{client: i, n: int(n), due: time.Now().Add(retryPause)})
		} else {
			l.t.Fatalf("client %d got %v", i, f)
		}
	case "message", "batch":
		for _, m := range messagesOf(f) {
			off := m["offset"].(float64)
			if l.pushed[i][off] {
				l.t.Fatalf("client %d was pushed offset %v twice", i, off)
			}
			l.pushed[i][off] = true
			text, _ := m["text"].(string)
			l.tell(i, off, text)
		}
	}
}

// tell records that client i heard text at off; hearing another text there
// fails the test.
func (l *roomLoad) tell(i int, off float64, text string) {
	l.t.Helper()
	if prev, ok := l.told[i][off]; ok && prev != text {
		l.t.Fatalf("client %d was told offset %v is %q and %q", i, off, prev, text)
	}
	l.told[i][off] = text
}

func (l *roomLoad) maxAcked() float64 {
	m := float64(0)
	for _, off := range l.acked {
		m = max(m, off)
	}
	return m
}

// verify reads the room back through reader: every acked message is stored
// once, at its acked offset, with no gap; then every client hears of every
// offset up to the last acked one, each the stored message.
func (l *roomLoad) verify(reader *rawClient) {
	l.t.Helper()
	l.draining = true
	last := l.maxAcked()
	reader.request(map[string]any{"type": "join", "room": l.room})
	stored := map[float64]string{}
	seen := map[string]float64{}
	after := float64(0)
	for readUntil := time.Now().Add(frameWait); after < last; {
		if time.Now().After(readUntil) {
			l.t.Fatalf("history ends at %v, acked up to %v", after, last)
		}
		page := reader.request(map[string]any{"type": "history", "room": l.room, "after": after, "limit": 200})
		msgs, _ := page["msgs"].([]any)
		for _, m := range msgs {
			mm := m.(map[string]any)
			off := mm["offset"].(float64)
			if off != after+1 {
				l.t.Fatalf("gap: offset %v after %v", off, after)
			}
			after = off
			text, _ := mm["text"].(string)
			stored[off] = text
			if _, dup := seen[text]; dup {
				l.t.Fatalf("%s stored twice", text)
			}
			seen[text] = off
		}
	}
	for cid, off := range l.acked {
		if seen[cid] != off {
			l.t.Fatalf("%s acked at %v, stored at %v", cid, off, seen[cid])
		}
	}
	for i := range l.clients {
		l.paused[i] = false
	}
	missing := func(i int) float64 {
		for off := float64(1); off <= last; off++ {
			if _, ok := l.told[i][off]; !ok {
				return off
			}
		}
		return 0
	}
	for i, c := range l.clients {
		for off := missing(i); off != 0; off = missing(i) {
			f := c.next() // fails the test after frameWait: offset off never came
			l.handle(i, f)
		}
		for off := float64(1); off <= last; off++ {
			if l.told[i][off] != stored[off] {
				l.t.Fatalf("client %d was told offset %v is %q, stored %q", i, off, l.told[i][off], stored[off])
			}
		}
	}
}
