package app_test

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// docPipe pipelines doc_updates on c, at most window unacked, each one's
// data naming its cid ("u<n>"). It records the acks by cid.
type docPipe struct {
	t      *testing.T
	c      *rawClient
	room   string
	sent   int
	acked  map[string]float64 // cid → offset
	failed int                // answered with an error (unavailable while a room restarts)
}

func newDocPipe(t *testing.T, c *rawClient, room string) *docPipe {
	return &docPipe{t: t, c: c, room: room, acked: map[string]float64{}}
}

func (p *docPipe) send() {
	p.sent++
	p.c.sendJSON(map[string]any{"type": "doc_update", "id": p.sent, "room": p.room, "cid": "c" + strconv.Itoa(p.sent),
		"data": base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "u%d", p.sent))})
}

// take records f, an ack or error of the pipe; it reports whether f was one.
func (p *docPipe) take(f map[string]any) bool {
	id, ok := f["id"].(float64)
	switch {
	case !ok:
		return false
	case f["type"] == "ack":
		p.acked["c"+strconv.Itoa(int(id))] = f["offset"].(float64)
	case f["type"] == "error" && f["code"] == "unavailable":
		p.failed++
	default:
		p.t.Fatalf("doc_update %v answered %v", id, f)
	}
	return true
}

// checkSynced fails the test unless the document st, read after the acks,
// holds every acked update at its acked offset, each once.
func checkSynced(t *testing.T, st docState, acked map[string]float64) {
	t.Helper()
	at := map[float64]string{}
	for i, off := range st.offsets {
		if _, dup := at[off]; dup {
			t.Fatalf("offset %v twice in the sync", off)
		}
		at[off] = st.updates[i]
	}
	for cid, off := range acked {
		if got := at[off]; got != "u"+cid[1:] {
			t.Fatalf("ack of %s named offset %v, which holds %q in the synced document", cid, off, got)
		}
	}
}

// TestAckedDocUpdatesSurviveARoomCrash crashes the room actor while doc
// updates stream in: after the supervisor's restart, a sync holds every
// acked update at its acked offset.
func TestAckedDocUpdatesSurviveARoomCrash(t *testing.T) {
	t.Parallel()
	a := startServer(t, "--rate-limit", "0")
	c, _ := joinedClient(t, a.Addr.String(), "writer", "crashdoc")
	p := newDocPipe(t, c, "crashdoc")
	const window, crashAt, total = 16, 100, 300
	for range window {
		p.send()
	}
	var recovered <-chan bool
	for answered := 0; answered < total; {
		f := c.next()
		if !p.take(f) {
			continue // the room_restarted notice and presence
		}
		answered++
		if answered == crashAt {
			var ok bool
			if recovered, ok = a.Engine().CrashRoomObserved("crashdoc"); !ok {
				t.Fatal("the room was not active")
			}
		}
		if p.sent < total {
			p.send()
		}
	}
	if !<-recovered {
		t.Fatal("the room did not recover from its crash")
	}
	if len(p.acked) < total-window {
		t.Fatalf("only %d of %d updates acked (%d unavailable)", len(p.acked), total, p.failed)
	}
	reader, _ := joinedClient(t, a.Addr.String(), "reader", "crashdoc")
	checkSynced(t, syncAll(t, reader, "crashdoc", 0), p.acked)
	t.Logf("%d acked, %d unavailable across the crash, all acked ones synced", len(p.acked), p.failed)
}

// TestAckedDocUpdatesSurviveSIGKILL kills the server process while doc
// updates stream in, starts it again on the same SQLite file, and syncs
// the document: every acked update is there at its acked offset, and the
// snapshot stored before the kill too.
func TestAckedDocUpdatesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	bin := buildTroupe(t)
	flags := []string{"--store", "sqlite://" + filepath.Join(t.TempDir(), "troupe.db"), "--rate-limit", "0"}
	srv := startProcess(t, bin, flags...)
	c := mustDial(t, srv.addr)
	c.hello("writer")
	joinRoom(t, c, "killdoc")
	for i := 1; i <= 10; i++ {
		mustDocUpdate(t, c, "killdoc", fmt.Appendf(nil, "pre%d", i), "")
	}
	snap := base64.StdEncoding.EncodeToString([]byte("state to 10"))
	if r := c.request(map[string]any{"type": "doc_snapshot", "room": "killdoc", "offset": 10, "data": snap}); r["stored"] != true {
		t.Fatalf("doc_snapshot: %v", r)
	}

	p := newDocPipe(t, c, "killdoc")
	const window, killAfter = 32, 300
	for range window {
		p.send()
	}
	for len(p.acked) < killAfter {
		if p.take(c.next()) {
			p.send()
		}
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for { // acks already on the wire count too
		select {
		case f := <-c.frames:
			<-c.raw
			p.take(f)
			continue
		case <-c.closed:
		}
		break
	}
	_ = srv.cmd.Wait()

	srv2 := startProcess(t, bin, flags...)
	r := mustDial(t, srv2.addr)
	r.hello("reader")
	joinRoom(t, r, "killdoc")
	st := syncAll(t, r, "killdoc", 0)
	if st.snapshot != "state to 10" || st.snapAt != 10 {
		t.Fatalf("snapshot after the kill = %q at %v", st.snapshot, st.snapAt)
	}
	// The pipe's updates follow the 10 before the snapshot: cid cN is the
	// update "uN", acked at its offset.
	checkSynced(t, st, p.acked)
	t.Logf("%d acked before SIGKILL, %d synced after the snapshot", len(p.acked), len(st.updates))
}
