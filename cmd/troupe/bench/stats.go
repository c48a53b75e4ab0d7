package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// histogram records latencies in logarithmic buckets (about 4% wide) with
// atomic counters, so receivers on many goroutines record without locks.
type histogram struct {
	buckets [64 * 16]atomic.Int64
	max     atomic.Int64
	count   atomic.Int64
}

func bucketOf(ns int64) int {
	if ns < 1 {
		ns = 1
	}
	u := uint64(ns)
	exp := 63 - bits.LeadingZeros64(u)
	var frac uint64
	if exp >= 4 {
		frac = (u >> (exp - 4)) & 15
	} else {
		frac = (u << (4 - exp)) & 15
	}
	return exp*16 + int(frac)
}

func bucketValue(i int) int64 {
	exp, frac := i/16, i%16
	return int64(math.Ldexp(1+float64(frac)/16, exp))
}

func (h *histogram) record(d time.Duration) {
	ns := int64(d)
	h.buckets[bucketOf(ns)].Add(1)
	h.count.Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// quantile returns the latency below which q of the samples fall.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	target := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= target {
			return time.Duration(bucketValue(i))
		}
	}
	return time.Duration(h.max.Load())
}

// add adds o's samples to h. Neither may be recording meanwhile.
func (h *histogram) add(o *histogram) {
	for i := range o.buckets {
		if n := o.buckets[i].Load(); n != 0 {
			h.buckets[i].Add(n)
		}
	}
	h.count.Add(o.count.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// serverStats are the figures read from the server's /metrics.
type serverStats struct {
	RSSBytes     float64
	CPUSeconds   float64
	Deliveries   float64
	BytesOut     float64
	RoomsActive  float64
	RoomsRelayed float64 // cluster: active rooms another node owns
	Coalesced    float64 // frames the outboxes replaced with a later one (signals)
}

// plus returns the sum of s and o: the figures of several nodes.
func (s serverStats) plus(o serverStats) serverStats {
	return serverStats{
		RSSBytes: s.RSSBytes + o.RSSBytes, CPUSeconds: s.CPUSeconds + o.CPUSeconds,
		Deliveries: s.Deliveries + o.Deliveries, BytesOut: s.BytesOut + o.BytesOut,
		RoomsActive: s.RoomsActive + o.RoomsActive, RoomsRelayed: s.RoomsRelayed + o.RoomsRelayed,
		Coalesced: s.Coalesced + o.Coalesced,
	}
}

// scrapeAll scrapes every node and returns each one's figures and their sum.
func scrapeAll(ctx context.Context, bases []string) (each []serverStats, sum serverStats, err error) {
	for _, b := range bases {
		s, err := scrape(ctx, b)
		if err != nil {
			return nil, sum, err
		}
		each = append(each, s)
		sum = sum.plus(s)
	}
	return each, sum, nil
}

func scrape(ctx context.Context, base string) (serverStats, error) {
	var s serverStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return s, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, fmt.Errorf("bench: scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("bench: scrape %s: %s", base, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			s.RSSBytes = v
		case "process_cpu_seconds_total":
			s.CPUSeconds = v
		case "troupe_deliveries_total":
			s.Deliveries = v
		case "troupe_bytes_out_total":
			s.BytesOut = v
		case "troupe_rooms_active":
			s.RoomsActive = v
		case "troupe_rooms_relayed":
			s.RoomsRelayed = v
		case `troupe_drops_total{reason="coalesced"}`:
			s.Coalesced = v
		}
	}
	return s, sc.Err()
}
