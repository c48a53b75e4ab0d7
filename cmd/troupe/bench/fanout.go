package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// FanoutResult is the outcome of the fanout scenario.
type FanoutResult struct {
	Rooms            int     `json:"rooms"`
	Members          int     `json:"members"`
	Publishers       int     `json:"publishers"`
	TargetRate       float64 `json:"target_rate"`
	Seconds          float64 `json:"seconds"`
	Sent             int64   `json:"sent"`
	Acked            int64   `json:"acked"`
	AckedPerSecond   float64 `json:"acked_per_second"`
	Deliveries       int64   `json:"deliveries"`
	Expected         int64   `json:"expected_deliveries"`
	Lost             int64   `json:"lost"`
	DeliveriesPerSec float64 `json:"deliveries_per_second"`
	LatencyP50Ms     float64 `json:"latency_p50_ms"`
	LatencyP95Ms     float64 `json:"latency_p95_ms"`
	LatencyP99Ms     float64 `json:"latency_p99_ms"`
	LatencyMaxMs     float64 `json:"latency_max_ms"`
	ServerCPUPercent float64 `json:"server_cpu_percent"`
	ServerRSSBytes   float64 `json:"server_rss_bytes"`
	ServerDeliveries float64 `json:"server_deliveries"`
}

func (r FanoutResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fanout: %d room(s) × %d members, %d publisher(s), %.1fs\n", r.Rooms, r.Members, r.Publishers, r.Seconds)
	fmt.Fprintf(&b, "  %-22s %d sent, %d acked (%.0f/s)\n", "messages", r.Sent, r.Acked, r.AckedPerSecond)
	fmt.Fprintf(&b, "  %-22s %d of %d expected (%.0f/s), %d lost\n", "deliveries", r.Deliveries, r.Expected, r.DeliveriesPerSec, r.Lost)
	fmt.Fprintf(&b, "  %-22s p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n", "publish→deliver", r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms, r.LatencyMaxMs)
	fmt.Fprintf(&b, "  %-22s CPU %.0f%%  RSS %s\n", "server", r.ServerCPUPercent, mib(r.ServerRSSBytes))
	return b.String()
}

var (
	textMarker = []byte(`"text":"t=`)
	ackMarker  = []byte(`{"type":"ack"`)
)

// publisher is one publishing member.
type publisher struct {
	c      *conn
	room   string
	window chan struct{} // unacked sends allowed
}

// runFanout joins o.Rooms × o.Members connections, then o.Publishers of them
// publish timestamped messages for o.Duration; every receiver measures
// publish→deliver latency from the timestamp in the text.
func runFanout(ctx context.Context, o Options, progress io.Writer) (FanoutResult, error) {
	res := FanoutResult{Rooms: o.Rooms, Members: o.Members, Publishers: o.Publishers, TargetRate: o.Rate}
	d, err := newDialer(o.URL, o.Src)
	if err != nil {
		return res, err
	}
	var hist histogram
	var deliveries, acked atomic.Int64
	pubs := make(map[*conn]*publisher)
	var pubsMu sync.RWMutex
	onFrame := func(c *conn, b []byte) {
		if bytes.HasPrefix(b, ackMarker) {
			acked.Add(1)
			pubsMu.RLock()
			p := pubs[c]
			pubsMu.RUnlock()
			if p != nil {
				select {
				case <-p.window:
				default:
				}
			}
			return
		}
		now := time.Now().UnixNano()
		for {
			i := bytes.Index(b, textMarker)
			if i < 0 {
				return
			}
			b = b[i+len(textMarker):]
			j := bytes.IndexByte(b, ';')
			if j < 0 {
				return
			}
			if sent, err := strconv.ParseInt(string(b[:j]), 10, 64); err == nil {
				hist.record(time.Duration(now - sent))
				deliveries.Add(1)
			}
		}
	}
	total := o.Rooms * o.Members
	members := make([]*conn, 0, total)
	byRoom := make([][]*conn, o.Rooms)
	fmt.Fprintf(progress, "joining %d connections…\n", total)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var joinErr atomic.Value
	sem := make(chan struct{}, 64)
	for r := range o.Rooms {
		for m := range o.Members {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c, err := d.dial(ctx, onFrame)
				if err == nil {
					if _, err = c.request(ctx, map[string]any{"type": "hello", "name": fmt.Sprintf("m%d-%d", r, m)}); err == nil {
						_, err = c.request(ctx, map[string]any{"type": "join", "room": fmt.Sprintf("fanout-%d", r), "history": 0})
					}
				}
				if err != nil {
					joinErr.Store(err)
					return
				}
				mu.Lock()
				members = append(members, c)
				byRoom[r] = append(byRoom[r], c)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if err, ok := joinErr.Load().(error); ok {
		return res, err
	}
	// Publishers are spread over the rooms round-robin.
	pubsMu.Lock()
	for i := range min(o.Publishers, total) {
		r := i % o.Rooms
		c := byRoom[r][(i/o.Rooms)%len(byRoom[r])]
		pubs[c] = &publisher{c: c, room: fmt.Sprintf("fanout-%d", r), window: make(chan struct{}, o.Window)}
	}
	pubsMu.Unlock()
	before, err := scrape(ctx, o.URL)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(progress, "%d publishers sending for %s…\n", len(pubs), o.Duration)
	var sent atomic.Int64
	pad := strings.Repeat("x", max(o.Size-30, 0))
	stop := make(chan struct{})
	start := time.Now()
	var pw sync.WaitGroup
	perPub := o.Rate / float64(max(len(pubs), 1))
	for _, p := range pubs {
		pw.Add(1)
		go func() {
			defer pw.Done()
			var tick <-chan time.Time
			if perPub > 0 {
				t := time.NewTicker(time.Duration(float64(time.Second) / perPub))
				defer t.Stop()
				tick = t.C
			}
			buf := make([]byte, 0, o.Size+128)
			for i := 0; ; i++ {
				if tick != nil {
					select {
					case <-tick:
					case <-stop:
						return
					}
				} else {
					select {
					case p.window <- struct{}{}:
					case <-stop:
						return
					}
				}
				buf = append(buf[:0], `{"type":"send","room":"`...)
				buf = append(buf, p.room...)
				buf = append(buf, `","text":"t=`...)
				buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
				buf = append(buf, ';')
				buf = append(buf, pad...)
				buf = append(buf, `"}`...)
				if err := p.c.ws.WriteMessage(gws.OpcodeText, buf); err != nil {
					return
				}
				sent.Add(1)
			}
		}()
	}
	ticker := time.NewTicker(time.Second)
	deadline := time.After(o.Duration)
loop:
	for {
		select {
		case <-ticker.C:
			el := time.Since(start).Seconds()
			fmt.Fprintf(progress, "\r%4.0fs  sent %d  acked %d  deliveries %d (%.0f/s)  p99 %.1f ms   ",
				el, sent.Load(), acked.Load(), deliveries.Load(), float64(deliveries.Load())/el, float64(hist.quantile(0.99))/1e6)
		case <-deadline:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	ticker.Stop()
	close(stop)
	pw.Wait()
	elapsed := time.Since(start)
	// Let in-flight messages arrive: wait until deliveries stop growing.
	for last := int64(-1); last != deliveries.Load(); {
		last = deliveries.Load()
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	after, err := scrape(ctx, o.URL)
	if err != nil {
		return res, err
	}
	fmt.Fprintln(progress)
	res.Seconds = elapsed.Seconds()
	res.Sent, res.Acked, res.Deliveries = sent.Load(), acked.Load(), deliveries.Load()
	res.AckedPerSecond = float64(res.Acked) / res.Seconds
	res.Expected = res.Acked * int64(o.Members-1)
	res.Lost = max(res.Expected-res.Deliveries, 0)
	res.DeliveriesPerSec = float64(res.Deliveries) / res.Seconds
	res.LatencyP50Ms = float64(hist.quantile(0.50)) / 1e6
	res.LatencyP95Ms = float64(hist.quantile(0.95)) / 1e6
	res.LatencyP99Ms = float64(hist.quantile(0.99)) / 1e6
	res.LatencyMaxMs = float64(hist.max.Load()) / 1e6
	res.ServerCPUPercent = 100 * (after.CPUSeconds - before.CPUSeconds) / res.Seconds
	res.ServerRSSBytes = after.RSSBytes
	res.ServerDeliveries = after.Deliveries - before.Deliveries
	for _, c := range members {
		c.close()
	}
	return res, nil
}
