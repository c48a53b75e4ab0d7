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

	"github.com/troupe-chat/troupe/clients/go/troupe"
)

// SignalsResult is the outcome of the signals scenario: o.Clients members of
// one room each sending `cursor` signals at o.Rate per second.
type SignalsResult struct {
	Clients    int     `json:"clients"`
	Room       string  `json:"room"`
	TargetRate float64 `json:"target_rate"` // signals/s per client
	Seconds    float64 `json:"seconds"`
	Sent       int64   `json:"sent"`
	// SentPerSecond is the signals sent by all the clients together.
	SentPerSecond float64 `json:"sent_per_second"`
	// Offers are the signals sent times the other members of the room: the
	// frames the server would write if it coalesced none.
	Offers          int64   `json:"offers"`
	OffersPerSecond float64 `json:"offers_per_second"`
	// Delivered are the signal frames the clients received.
	Delivered          int64   `json:"delivered"`
	DeliveredPerSecond float64 `json:"delivered_per_second"`
	// CoalescedShare is 1 - Delivered/Offers: the part of the offers the
	// server's outboxes replaced with a later signal (or dropped).
	CoalescedShare float64 `json:"coalesced_share"`
	// ServerCoalesced is the server's own count of the frames its outboxes
	// replaced over the run (troupe_drops_total{reason="coalesced"}): with
	// nothing else dropped, Offers - Delivered.
	ServerCoalesced float64 `json:"server_coalesced"`
	// ServerCPUCores is the server's CPU time over the run (its /metrics
	// process_cpu_seconds_total) per second of sending; ServerRSSBytes its
	// resident memory at the end. Summed over the nodes with --urls.
	ServerCPUCores float64 `json:"server_cpu_cores"`
	ServerRSSBytes float64 `json:"server_rss_bytes"`
}

func (r SignalsResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "signals: %d clients in room %s, %g/s each, %.1fs\n", r.Clients, r.Room, r.TargetRate, r.Seconds)
	fmt.Fprintf(&b, "  %-22s %d (%.0f/s)\n", "signals sent", r.Sent, r.SentPerSecond)
	fmt.Fprintf(&b, "  %-22s %d (%.0f/s)\n", "per-recipient offers", r.Offers, r.OffersPerSecond)
	fmt.Fprintf(&b, "  %-22s %d (%.0f/s)\n", "signal frames in", r.Delivered, r.DeliveredPerSecond)
	fmt.Fprintf(&b, "  %-22s %.1f%% (the server counted %.0f coalesced)\n", "coalesced", 100*r.CoalescedShare, r.ServerCoalesced)
	fmt.Fprintf(&b, "  %-22s CPU %.2f cores  RSS %s\n", "server", r.ServerCPUCores, mib(r.ServerRSSBytes))
	return b.String()
}

// signalType marks a signal push; signal frames are never batched.
var signalType = []byte(`"type":"signal"`)

// signalCounter counts the signal frames its clients receive.
type signalCounter struct{ n atomic.Int64 }

// onRawPush is the clients' Options.OnRawPush: it consumes signal frames
// undecoded, counting them, and leaves every other push to the client.
func (sc *signalCounter) onRawPush(b []byte) bool {
	if !bytes.Contains(b, signalType) {
		return false
	}
	sc.n.Add(1)
	return true
}

// runSignals joins o.Clients connections (spread over the nodes round robin)
// to one room, then each sends `cursor` signals with an increasing x at
// o.Rate per second for o.Duration, started spread over one period; every
// client counts the signal frames it receives.
func runSignals(ctx context.Context, o Options, progress io.Writer) (SignalsResult, error) {
	res := SignalsResult{Clients: o.Clients, Room: o.Room, TargetRate: o.Rate}
	if o.Clients < 2 || o.Rate <= 0 {
		return res, fmt.Errorf("bench: signals needs --clients of at least 2 and a --rate above 0")
	}
	nodes := o.nodes()
	dialers := make([]*dialer, len(nodes))
	for j, u := range nodes {
		dialers[j] = &dialer{url: u, srcs: o.Src, compress: o.Compress}
	}
	var counter signalCounter
	clients := make([]*troupe.Client, o.Clients)
	fmt.Fprintf(progress, "joining %d connections…\n", o.Clients)
	var joinErr atomic.Pointer[error]
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range o.Clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := dialers[i%len(dialers)].join(ctx, fmt.Sprintf("s%d", i), o.Room, counter.onRawPush)
			if err != nil {
				joinErr.CompareAndSwap(nil, &err)
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	defer closeAll(clients)
	if err := joinErr.Load(); err != nil {
		return res, *err
	}
	_, before, err := scrapeAll(ctx, nodes)
	if err != nil {
		return res, err
	}
	// The joins' presence pushes are not signals, but count from here.
	base := counter.n.Load()
	fmt.Fprintf(progress, "%d clients signalling at %g/s each for %s…\n", o.Clients, o.Rate, o.Duration)
	var sent atomic.Int64
	var failed atomic.Pointer[error]
	stop := make(chan struct{})
	start := time.Now()
	var sw sync.WaitGroup
	for i, c := range clients {
		// Clients start spread over one period, as in fanout: started
		// together, their tickers would fire together.
		phase := time.Duration(float64(time.Second) / o.Rate * float64(i) / float64(o.Clients))
		sw.Go(func() { signal(ctx, c, o.Room, o.Rate, phase, stop, &sent, &failed) })
	}
	ticker := time.NewTicker(time.Second)
	deadline := time.After(o.Duration)
loop:
	for {
		select {
		case <-ticker.C:
			el := time.Since(start).Seconds()
			n := counter.n.Load() - base
			fmt.Fprintf(progress, "\r%4.0fs  sent %d (%.0f/s)  signal frames in %d (%.0f/s)   ", el, sent.Load(), float64(sent.Load())/el, n, float64(n)/el)
		case <-deadline:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	ticker.Stop()
	close(stop)
	elapsed := time.Since(start)
	sw.Wait()
	if err := failed.Load(); err != nil {
		fmt.Fprintf(progress, "\nbench: a client stopped signalling: %v\n", *err)
	}
	// Let signals in flight arrive: wait until the count stops growing.
	for last := int64(-1); last != counter.n.Load(); {
		last = counter.n.Load()
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	_, after, err := scrapeAll(ctx, nodes)
	if err != nil {
		return res, err
	}
	fmt.Fprintln(progress)
	res.Seconds = elapsed.Seconds()
	res.Sent = sent.Load()
	res.SentPerSecond = float64(res.Sent) / res.Seconds
	res.Offers = res.Sent * int64(o.Clients-1)
	res.OffersPerSecond = float64(res.Offers) / res.Seconds
	res.Delivered = counter.n.Load() - base
	res.DeliveredPerSecond = float64(res.Delivered) / res.Seconds
	if res.Offers > 0 {
		res.CoalescedShare = max(1-float64(res.Delivered)/float64(res.Offers), 0)
	}
	res.ServerCPUCores = (after.CPUSeconds - before.CPUSeconds) / res.Seconds
	res.ServerRSSBytes = after.RSSBytes
	res.ServerCoalesced = after.Coalesced - before.Coalesced
	return res, nil
}

// signal sends `cursor` signals {"x":n,"y":0} with n counting up from c to
// room at rate signals/s, after phase, until stop closes. A signal is
// counted as sent when Signal returns without error; the first error is
// recorded in failed and ends the sending. A signal due while the one
// before is still being written (or the ticker fires late) is skipped, as a
// cursor skips positions, so sent/s below clients × rate means the load
// generator fell behind.
func signal(ctx context.Context, c *troupe.Client, room string, rate float64, phase time.Duration, stop <-chan struct{}, sent *atomic.Int64, failed *atomic.Pointer[error]) {
	due := make(chan struct{}, 1)
	go pace(rate, phase, due, stop)
	buf := make([]byte, 0, 32)
	for x := 0; ; x++ {
		select {
		case <-due:
		case <-stop:
			return
		}
		buf = append(buf[:0], `{"x":`...)
		buf = strconv.AppendInt(buf, int64(x), 10)
		buf = append(buf, `,"y":0}`...)
		// Signal encodes the frame before it returns, so buf is reused.
		if err := c.Signal(ctx, room, "cursor", buf); err != nil {
			failed.CompareAndSwap(nil, &err)
			return
		}
		sent.Add(1)
	}
}
