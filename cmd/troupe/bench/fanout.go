package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troupe-chat/troupe/clients/go/troupe"
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
	// Per delivery, from the server's /metrics: the bytes it wrote to
	// sockets (frames, headers included; acks and pushes count too) and its
	// CPU time.
	ServerBytesPerDelivery float64 `json:"server_bytes_per_delivery"`
	ServerCPUUsPerDelivery float64 `json:"server_cpu_us_per_delivery"`
}

func (r FanoutResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fanout: %d room(s) × %d members, %d publisher(s), %.1fs\n", r.Rooms, r.Members, r.Publishers, r.Seconds)
	fmt.Fprintf(&b, "  %-22s %d sent, %d acked (%.0f/s)\n", "messages", r.Sent, r.Acked, r.AckedPerSecond)
	fmt.Fprintf(&b, "  %-22s %d of %d expected (%.0f/s), %d lost\n", "deliveries", r.Deliveries, r.Expected, r.DeliveriesPerSec, r.Lost)
	fmt.Fprintf(&b, "  %-22s p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n", "publish→deliver", r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms, r.LatencyMaxMs)
	fmt.Fprintf(&b, "  %-22s CPU %.0f%%  RSS %s\n", "server", r.ServerCPUPercent, mib(r.ServerRSSBytes))
	fmt.Fprintf(&b, "  %-22s %.0f bytes written, %.3f µs CPU\n", "server per delivery", r.ServerBytesPerDelivery, r.ServerCPUUsPerDelivery)
	return b.String()
}

// Prefixes of the frames a fanout receiver counts, and what precedes a
// message's send timestamp in them.
const (
	messageHead = `{"type":"message"`
	batchHead   = `{"type":"batch"`
	textMarker  = `"text":"t=`
)

// receiver counts the deliveries of message and batch frames and records
// their publish→deliver latency from the "t=<unix ns>;" the text starts with.
type receiver struct {
	hist       histogram
	deliveries atomic.Int64
}

// onRawPush is the members' Options.OnRawPush: it consumes message and batch
// frames, so the client never decodes them, and leaves every other push to
// the client. It runs for every delivery, on one core at over a million a
// second, so it looks for the rare '=' of each timestamp's marker rather
// than the marker itself, and stops after the one message of a message frame.
func (rc *receiver) onRawPush(b []byte) bool {
	one := hasPrefix(b, messageHead)
	if !one && !hasPrefix(b, batchHead) {
		return false
	}
	now := time.Now().UnixNano()
	for i := 0; ; {
		eq := bytes.IndexByte(b[i:], '=')
		if eq < 0 {
			return true
		}
		i += eq + 1
		if !hasSuffix(b[:i], textMarker) {
			continue
		}
		sent, n := parseDigits(b[i:])
		if n == 0 || n == len(b)-i || b[i+n] != ';' {
			continue
		}
		rc.hist.record(time.Duration(now - sent))
		rc.deliveries.Add(1)
		if one {
			return true
		}
		i += n
	}
}

// parseDigits reads the decimal number b starts with and how many bytes it
// took (0: none). It reads at most 19 digits, as many as Unix nanoseconds
// have until 2262.
func parseDigits(b []byte) (v int64, n int) {
	for n < len(b) && n < 19 && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + int64(b[n]-'0')
		n++
	}
	return v, n
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }
func hasSuffix(b []byte, s string) bool { return len(b) >= len(s) && string(b[len(b)-len(s):]) == s }

// publisher is one publishing member.
type publisher struct {
	c    *troupe.Client
	room string
}

// publish sends timestamped messages to p's room from o.Window goroutines
// until stop closes, each waiting for its message's ack before the next:
// paced at rate messages/s when rate > 0, else as fast as acks come back. It
// counts a message as sent when Send is called and as acked when Send
// returns the ack, and records the first failure in failed.
func (p publisher) publish(ctx context.Context, o Options, rate float64, phase time.Duration, stop <-chan struct{}, sent, acked *atomic.Int64, failed *atomic.Pointer[error]) {
	window := max(o.Window, 1)
	var due chan struct{} // with a rate: one value per message due
	if rate > 0 {
		due = make(chan struct{}, window)
		go pace(rate, phase, due, stop)
	}
	pad := strings.Repeat("x", max(o.Size-30, 0))
	data := benchData(o.DataBytes)
	var wg sync.WaitGroup
	for range window {
		wg.Go(func() {
			buf := make([]byte, 0, len(pad)+32)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if due != nil {
					select {
					case <-due:
					case <-stop:
						return
					}
				}
				buf = append(buf[:0], "t="...)
				buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
				buf = append(buf, ';')
				buf = append(buf, pad...)
				sent.Add(1)
				if _, err := p.c.Send(ctx, p.room, troupe.Message{Text: string(buf), Data: data}); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				acked.Add(1)
			}
		})
	}
	wg.Wait()
}

// pace waits phase, then puts a value into due for every 1/rate s since, until
// stop closes. It counts from the start rather than per tick, so a late tick
// loses nothing; a message due while due is full (every sender waiting for
// an ack, a window's worth queued) is dropped.
func pace(rate float64, phase time.Duration, due chan<- struct{}, stop <-chan struct{}) {
	if phase > 0 {
		select {
		case <-time.After(phase):
		case <-stop:
			return
		}
	}
	start := time.Now()
	t := time.NewTicker(max(time.Duration(float64(time.Second)/rate), time.Millisecond))
	defer t.Stop()
	var issued int64
	for {
		select {
		case now := <-t.C:
			for n := int64(now.Sub(start).Seconds() * rate); issued < n; issued++ {
				select {
				case due <- struct{}{}:
				default:
				}
			}
		case <-stop:
			return
		}
	}
}

// runFanout joins o.Rooms × o.Members connections, then o.Publishers of them
// publish timestamped messages for o.Duration; every receiver measures
// publish→deliver latency from the timestamp in the text.
func runFanout(ctx context.Context, o Options, progress io.Writer) (FanoutResult, error) {
	res := FanoutResult{Rooms: o.Rooms, Members: o.Members, Publishers: o.Publishers, TargetRate: o.Rate}
	d := &dialer{url: o.URL, srcs: o.Src, compress: o.Compress}
	var rc receiver
	total := o.Rooms * o.Members
	members := make([]*troupe.Client, 0, total)
	byRoom := make([][]*troupe.Client, o.Rooms)
	fmt.Fprintf(progress, "joining %d connections…\n", total)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var joinErr atomic.Pointer[error]
	sem := make(chan struct{}, 64)
	for r := range o.Rooms {
		for m := range o.Members {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				c, err := d.join(ctx, fmt.Sprintf("m%d-%d", r, m), fmt.Sprintf("fanout-%d", r), rc.onRawPush)
				if err != nil {
					joinErr.CompareAndSwap(nil, &err)
					return
				}
				mu.Lock()
				members = append(members, c)
				byRoom[r] = append(byRoom[r], c)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	defer closeAll(members)
	if err := joinErr.Load(); err != nil {
		return res, *err
	}
	// Publishers are spread over the rooms round-robin.
	var pubs []publisher
	for i := range min(o.Publishers, total) {
		r := i % o.Rooms
		pubs = append(pubs, publisher{c: byRoom[r][(i/o.Rooms)%len(byRoom[r])], room: fmt.Sprintf("fanout-%d", r)})
	}
	before, err := scrape(ctx, o.URL)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(progress, "%d publishers sending for %s…\n", len(pubs), o.Duration)
	var sent, acked atomic.Int64
	var failed atomic.Pointer[error]
	// Sends in flight when publishing stops may finish (their acks count)
	// for a while, not for ever.
	sendCtx, cancelSends := context.WithCancel(ctx)
	defer cancelSends()
	stop := make(chan struct{})
	start := time.Now()
	var pw sync.WaitGroup
	perPub := o.Rate / float64(max(len(pubs), 1))
	for i, p := range pubs {
		// Publishers start spread over one period, as independent clients
		// would be: started together, their tickers fire together and every
		// room's message lands in the same instant, a burst no real load has.
		var phase time.Duration
		if perPub > 0 {
			phase = time.Duration(float64(time.Second) / perPub * float64(i) / float64(len(pubs)))
		}
		pw.Go(func() { p.publish(sendCtx, o, perPub, phase, stop, &sent, &acked, &failed) })
	}
	ticker := time.NewTicker(time.Second)
	deadline := time.After(o.Duration)
loop:
	for {
		select {
		case <-ticker.C:
			el := time.Since(start).Seconds()
			fmt.Fprintf(progress, "\r%4.0fs  sent %d  acked %d  deliveries %d (%.0f/s)  p99 %.1f ms   ",
				el, sent.Load(), acked.Load(), rc.deliveries.Load(), float64(rc.deliveries.Load())/el, float64(rc.hist.quantile(0.99))/1e6)
		case <-deadline:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	ticker.Stop()
	close(stop)
	elapsed := time.Since(start)
	drainSends := time.AfterFunc(30*time.Second, cancelSends)
	pw.Wait()
	drainSends.Stop()
	if err := failed.Load(); err != nil {
		fmt.Fprintf(progress, "\nbench: a publisher stopped: %v\n", *err)
	}
	// Let in-flight messages arrive: wait until deliveries stop growing.
	for last := int64(-1); last != rc.deliveries.Load(); {
		last = rc.deliveries.Load()
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
	res.Sent, res.Acked, res.Deliveries = sent.Load(), acked.Load(), rc.deliveries.Load()
	res.AckedPerSecond = float64(res.Acked) / res.Seconds
	res.Expected = res.Acked * int64(o.Members-1)
	res.Lost = max(res.Expected-res.Deliveries, 0)
	res.DeliveriesPerSec = float64(res.Deliveries) / res.Seconds
	res.LatencyP50Ms = float64(rc.hist.quantile(0.50)) / 1e6
	res.LatencyP95Ms = float64(rc.hist.quantile(0.95)) / 1e6
	res.LatencyP99Ms = float64(rc.hist.quantile(0.99)) / 1e6
	res.LatencyMaxMs = float64(rc.hist.max.Load()) / 1e6
	res.ServerCPUPercent = 100 * (after.CPUSeconds - before.CPUSeconds) / res.Seconds
	res.ServerRSSBytes = after.RSSBytes
	res.ServerDeliveries = after.Deliveries - before.Deliveries
	if res.ServerDeliveries > 0 {
		res.ServerBytesPerDelivery = (after.BytesOut - before.BytesOut) / res.ServerDeliveries
		res.ServerCPUUsPerDelivery = 1e6 * (after.CPUSeconds - before.CPUSeconds) / res.ServerDeliveries
	}
	return res, nil
}

// benchData returns a JSON document of about n bytes shaped like an app's
// payload (an array of small records), or nil for n <= 0.
func benchData(n int) json.RawMessage {
	if n <= 0 {
		return nil
	}
	b := []byte(`{"items":[`)
	for i := 0; len(b) < n-2; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":%d,"name":"item %d","tags":["chat","demo"],"price":%d.%02d,"seen":%t}`, i, i, i*7%100, i%100, i%3 == 0)
	}
	return append(b, "]}"...)
}
