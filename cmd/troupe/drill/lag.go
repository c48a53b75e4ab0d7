package drill

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troupe-chat/troupe/actors/drills"
)

// How the drill watches its own scheduling: a probe every lagTick, and how
// far back worstSince can look.
const (
	lagTick = 20 * time.Millisecond
	lagKeep = 10 * time.Second
)

// lagMeter measures how late the drill's own goroutines run when the
// network wakes them, as it wakes a health check's: every lagTick it
// writes the time to a loopback TCP connection of its own and records how
// long the reading goroutine took to see it. (A timer's goroutine runs
// next on its processor and shows no such wait: in a 10,000-client storm
// timers ran within 90ms while the checks' answers waited a second behind
// the clients' reads.) On a machine the drill shares with the nodes, a
// saturated drill shows here rather than as a fault of the cluster: the
// health checks discount a timeout that came while the drill lagged, and
// the report gives the lag's summary.
type lagMeter struct {
	mu     sync.Mutex
	recent []lagSample // guarded by mu: the samples of the last lagKeep
	all    []float64   // guarded by mu: every sample's lag, ms
	// waiting is when the oldest write not yet read was written (Unix ns),
	// 0 when none is: a write unread now is lag too.
	waiting atomic.Int64
}

// lagSample is one wake-up: when it was due and how late it ran.
type lagSample struct {
	due  time.Time
	late time.Duration
}

// run measures until ctx ends; it measures nothing if the loopback
// connection cannot be made.
func (m *lagMeter) run(ctx context.Context) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	defer ln.Close()
	var d net.Dialer
	w, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return
	}
	defer w.Close()
	r, err := ln.Accept()
	if err != nil {
		return
	}
	defer r.Close()
	context.AfterFunc(ctx, func() { r.Close() })
	go m.read(r)
	t := time.NewTicker(lagTick)
	defer t.Stop()
	var buf [8]byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		m.waiting.CompareAndSwap(0, now)
		binary.LittleEndian.PutUint64(buf[:], uint64(now))
		if _, err := w.Write(buf[:]); err != nil {
			return
		}
	}
}

// read records the delay of each time written, until the connection closes.
func (m *lagMeter) read(r net.Conn) {
	br := bufio.NewReader(r)
	var buf [8]byte
	for {
		if _, err := io.ReadFull(br, buf[:]); err != nil {
			return
		}
		m.waiting.Store(0)
		sent := time.Unix(0, int64(binary.LittleEndian.Uint64(buf[:])))
		m.record(sent, time.Since(sent))
	}
}

func (m *lagMeter) record(due time.Time, late time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cut := 0
	for cut < len(m.recent) && due.Sub(m.recent[cut].due) > lagKeep {
		cut++
	}
	m.recent = append(m.recent[cut:], lagSample{due: due, late: late})
	m.all = append(m.all, float64(late.Microseconds())/1000)
}

// worstSince returns the longest lag of the wake-ups that ran after t
// (they were waiting to run at some time since t), counting the one
// overdue now.
func (m *lagMeter) worstSince(t time.Time) time.Duration {
	var worst time.Duration
	if due := m.waiting.Load(); due != 0 {
		worst = max(0, time.Since(time.Unix(0, due)))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.recent {
		if s.due.Add(s.late).After(t) && s.late > worst {
			worst = s.late
		}
	}
	return worst
}

// summary returns the lag of every wake-up so far, ms.
func (m *lagMeter) summary() drills.Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	return drills.Summarize(m.all)
}
