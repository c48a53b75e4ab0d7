package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troupe-chat/troupe/clients/go/troupe"
)

// IdleResult is the outcome of the idle and storm scenarios.
type IdleResult struct {
	Scenario         string  `json:"scenario"`
	Conns            int     `json:"conns"`
	Failed           int     `json:"failed"`
	Seconds          float64 `json:"seconds"`
	ConnsPerSecond   float64 `json:"conns_per_second"`
	RSSBeforeBytes   float64 `json:"rss_before_bytes"`
	RSSAfterBytes    float64 `json:"rss_after_bytes"`
	RSSPerConnBytes  float64 `json:"rss_per_conn_bytes"`
	ServerCPUSeconds float64 `json:"server_cpu_seconds"`
}

func (r IdleResult) String() string {
	return fmt.Sprintf("%s: %d connections (hello + join) in %.2fs = %.0f conns/s, %d failed\n"+
		"server RSS %s → %s: %.1f KiB per connection; server CPU %.2fs\n",
		r.Scenario, r.Conns, r.Seconds, r.ConnsPerSecond, r.Failed,
		mib(r.RSSBeforeBytes), mib(r.RSSAfterBytes), r.RSSPerConnBytes/1024, r.ServerCPUSeconds)
}

// runIdle opens o.Conns connections that say hello and join one of o.Rooms
// rooms, as fast as 64 parallel dialers can, spread over the nodes as fanout
// spreads members (member k of room r on node (r+k) mod n); idle then holds them for o.Duration and reports the server's
// resident memory per connection (summed over the nodes).
func runIdle(ctx context.Context, o Options, progress io.Writer, hold bool) (IdleResult, error) {
	res := IdleResult{Scenario: "storm", Conns: o.Conns}
	if hold {
		res.Scenario = "idle"
	}
	nodes := o.nodes()
	dialers := make([]*dialer, len(nodes))
	for j, u := range nodes {
		dialers[j] = &dialer{url: u, srcs: o.Src, compress: o.Compress}
	}
	if o.NoPresence {
		if err := turnPresenceOff(ctx, nodes[0], o.APIKey, o.Rooms); err != nil {
			return res, err
		}
	}
	_, before, err := scrapeAll(ctx, nodes)
	if err != nil {
		return res, err
	}
	conns := make([]*troupe.Client, o.Conns)
	var next, done, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	stopProgress := make(chan struct{})
	var progressDone sync.WaitGroup
	progressDone.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintf(progress, "\r%d/%d connected, %d failed", done.Load(), o.Conns, failed.Load())
			case <-stopProgress:
				return
			}
		}
	})
	for range min(64, o.Conns) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= o.Conns {
					return
				}
				c, err := dialers[(i%max(o.Rooms, 1)+i/max(o.Rooms, 1))%len(dialers)].join(ctx, fmt.Sprintf("idle-%d", i), fmt.Sprintf("idle-%d", i%max(o.Rooms, 1)), ignorePush)
				if err != nil {
					failed.Add(1)
					continue
				}
				conns[i] = c
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	defer closeAll(conns)
	close(stopProgress)
	progressDone.Wait() // it writes to progress too
	elapsed := time.Since(start)
	fmt.Fprintln(progress)
	res.Failed = int(failed.Load())
	res.Seconds = elapsed.Seconds()
	res.ConnsPerSecond = float64(done.Load()) / elapsed.Seconds()
	if hold {
		select {
		case <-time.After(o.Duration):
		case <-ctx.Done():
		}
	}
	_, after, err := scrapeAll(ctx, nodes)
	if err != nil {
		return res, err
	}
	res.RSSBeforeBytes, res.RSSAfterBytes = before.RSSBytes, after.RSSBytes
	if n := done.Load(); n > 0 {
		res.RSSPerConnBytes = (after.RSSBytes - before.RSSBytes) / float64(n)
	}
	res.ServerCPUSeconds = after.CPUSeconds - before.CPUSeconds
	return res, nil
}

// ignorePush is the idle connections' Options.OnRawPush: they consume every
// push (presence diffs, mostly) undecoded, as nothing reads them.
func ignorePush([]byte) bool { return true }
