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
	// The server figures are summed over the nodes (ServerNodes has each
	// one's): CPU as a percentage of one core, RSS in bytes.
	ServerCPUPercent float64 `json:"server_cpu_percent"`
	ServerRSSBytes   float64 `json:"server_rss_bytes"`
	ServerDeliveries float64 `json:"server_deliveries"`
	// Per delivery, from the server's /metrics: the bytes it wrote to
	// sockets (frames, headers included; acks and pushes count too) and its
	// CPU time.
	ServerBytesPerDelivery float64 `json:"server_bytes_per_delivery"`
	ServerCPUUsPerDelivery float64 `json:"server_cpu_us_per_delivery"`

	// Nodes is how many servers the members were spread over (--urls), and
	// PublisherNode where the publishers were: "spread" or a node's place in
	// --urls (from 1).
	Nodes         int    `json:"nodes"`
	PublisherNode string `json:"publisher_node"`
	// Deliveries split by where the receiver is: on its message's
	// publisher's node (same node) or on another (cross node). With one
	// node every delivery is a same-node one.
	SameNode  LatencySplit `json:"same_node"`
	CrossNode LatencySplit `json:"cross_node"`
	// ServerNodes are each node's own figures, in --urls order.
	ServerNodes []NodeResult `json:"server_nodes"`
}

// LatencySplit is the part of a fanout's deliveries to receivers on the
// publisher's node, or on other nodes.
type LatencySplit struct {
	Deliveries   int64   `json:"deliveries"`
	Expected     int64   `json:"expected_deliveries"`
	Lost         int64   `json:"lost"`
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP99Ms float64 `json:"latency_p99_ms"`
	LatencyMaxMs float64 `json:"latency_max_ms"`
}

// NodeResult is one node's figures during a fanout run, from its /metrics.
type NodeResult struct {
	URL        string  `json:"url"`
	Members    int     `json:"members"` // the bench's connections to it
	Publishers int     `json:"publishers"`
	CPUPercent float64 `json:"cpu_percent"`
	RSSBytes   float64 `json:"rss_bytes"`
	Deliveries float64 `json:"deliveries"`
	// RoomsOwned and RoomsRelayed are its active rooms at the end: those
	// it stores and those another node owns.
	RoomsOwned   float64 `json:"rooms_owned"`
	RoomsRelayed float64 `json:"rooms_relayed"`
}

func (r FanoutResult) String() string {
	var b strings.Builder
	if r.Nodes > 1 {
		fmt.Fprintf(&b, "fanout: %d room(s) × %d members over %d nodes, %d publisher(s) (%s), %.1fs\n", r.Rooms, r.Members, r.Nodes, r.Publishers, publisherPlace(r.PublisherNode), r.Seconds)
	} else {
		fmt.Fprintf(&b, "fanout: %d room(s) × %d members, %d publisher(s), %.1fs\n", r.Rooms, r.Members, r.Publishers, r.Seconds)
	}
	fmt.Fprintf(&b, "  %-22s %d sent, %d acked (%.0f/s)\n", "messages", r.Sent, r.Acked, r.AckedPerSecond)
	fmt.Fprintf(&b, "  %-22s %d of %d expected (%.0f/s), %d lost\n", "deliveries", r.Deliveries, r.Expected, r.DeliveriesPerSec, r.Lost)
	fmt.Fprintf(&b, "  %-22s p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n", "publish→deliver", r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms, r.LatencyMaxMs)
	if r.Nodes > 1 {
		for _, s := range []struct {
			name string
			LatencySplit
		}{{"  same node", r.SameNode}, {"  cross node", r.CrossNode}} {
			fmt.Fprintf(&b, "  %-22s p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%d of %d expected, %d lost)\n",
				s.name, s.LatencyP50Ms, s.LatencyP99Ms, s.LatencyMaxMs, s.Deliveries, s.Expected, s.Lost)
		}
		if r.SameNode.Deliveries > 0 && r.CrossNode.Deliveries > 0 {
			fmt.Fprintf(&b, "  %-22s p50 %+.2f ms  p99 %+.2f ms\n", "  cross − same", r.CrossNode.LatencyP50Ms-r.SameNode.LatencyP50Ms, r.CrossNode.LatencyP99Ms-r.SameNode.LatencyP99Ms)
		}
		fmt.Fprintf(&b, "  %-22s CPU %.0f%%  RSS %s\n", fmt.Sprintf("server (%d nodes)", r.Nodes), r.ServerCPUPercent, mib(r.ServerRSSBytes))
		for i, n := range r.ServerNodes {
			fmt.Fprintf(&b, "  %-22s CPU %.0f%%  RSS %s  %d members, %d publishers, %.0f deliveries, owns %.0f room(s), relays %.0f  (%s)\n",
				fmt.Sprintf("  node %d", i+1), n.CPUPercent, mib(n.RSSBytes), n.Members, n.Publishers, n.Deliveries, n.RoomsOwned, n.RoomsRelayed, n.URL)
		}
	} else {
		fmt.Fprintf(&b, "  %-22s CPU %.0f%%  RSS %s\n", "server", r.ServerCPUPercent, mib(r.ServerRSSBytes))
	}
	fmt.Fprintf(&b, "  %-22s %.0f bytes written, %.3f µs CPU\n", "server per delivery", r.ServerBytesPerDelivery, r.ServerCPUUsPerDelivery)
	return b.String()
}

// publisherPlace names a result's PublisherNode for people.
func publisherPlace(p string) string {
	if p == "" || p == "spread" {
		return "spread over the nodes"
	}
	return "all on node " + p
}

// Prefixes of the frames a fanout receiver counts, and what precedes a
// message's send timestamp in them.
const (
	messageHead = `{"type":"message"`
	batchHead   = `{"type":"batch"`
	textMarker  = `"text":"t=`
)

// nodeMarker follows a message's timestamp when the bench loads several
// nodes: "t=<unix ns>;n=<publisher's node>;".
const nodeMarker = "n="

// receiver counts the deliveries of message and batch frames to the members
// on one node and records their publish→deliver latency from the
// "t=<unix ns>;" the text starts with: as a same-node delivery when the
// "n=<node>;" after it names the receiver's node, or names none (one node),
// else as a cross-node one.
type receiver struct {
	node        int
	same, cross histogram
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
		i += n + 1
		h := &rc.same
		if hasPrefix(b[i:], nodeMarker) {
			if node, n := parseDigits(b[i+len(nodeMarker):]); n > 0 && int(node) != rc.node {
				h = &rc.cross
			}
		}
		h.record(time.Duration(now - sent))
		if one {
			return true
		}
	}
}

// count is how many deliveries rc counted.
func (rc *receiver) count() int64 { return rc.same.count.Load() + rc.cross.count.Load() }

// receivers are the receivers of every node.
type receivers []*receiver

func (rs receivers) count() (n int64) {
	for _, rc := range rs {
		n += rc.count()
	}
	return n
}

// merged returns the latencies of every receiver, same node, cross node or
// both.
func (rs receivers) merged(same, cross bool) *histogram {
	h := new(histogram)
	for _, rc := range rs {
		if same {
			h.add(&rc.same)
		}
		if cross {
			h.add(&rc.cross)
		}
	}
	return h
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
	node int  // the place of its node in the bench's URLs
	tag  bool // several nodes: the text names the publisher's node
	// acked counts its acked messages; same and cross are how many of its
	// room's other members are on its node and on other nodes.
	acked       atomic.Int64
	same, cross int64
}

// publish sends timestamped messages to p's room from o.Window goroutines
// until stop closes, each waiting for its message's ack before the next:
// paced at rate messages/s when rate > 0, else as fast as acks come back. It
// counts a message as sent when Send is called and as acked when Send
// returns the ack, and records the first failure in failed.
func (p *publisher) publish(ctx context.Context, o Options, rate float64, phase time.Duration, stop <-chan struct{}, sent, acked *atomic.Int64, failed *atomic.Pointer[error]) {
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
			buf := make([]byte, 0, len(pad)+40)
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
				if p.tag {
					buf = append(buf, nodeMarker...)
					buf = strconv.AppendInt(buf, int64(p.node), 10)
					buf = append(buf, ';')
				}
				buf = append(buf, pad...)
				sent.Add(1)
				if _, err := p.c.Send(ctx, p.room, troupe.Message{Text: string(buf), Data: data}); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				p.acked.Add(1)
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

// fanoutPlan is where a fanout's connections go: member m of room r is on
// node (r+m) mod n, so every room is spread evenly and rooms' first members
// rotate over the nodes; publisher i is a member of room i mod rooms.
type fanoutPlan struct {
	rooms, members, nodes int
	pubMember             []int // publisher i's member index in its room
}

// planFanout places o's publishers: the (i div rooms)-th member of their room
// when spread, else the (i div rooms)-th of the room's members on node
// o.PublisherNode.
func planFanout(o Options) (fanoutPlan, error) {
	p := fanoutPlan{rooms: o.Rooms, members: o.Members, nodes: len(o.nodes())}
	if o.Rooms < 1 || o.Members < 1 {
		return p, fmt.Errorf("bench: fanout needs --rooms and --members of at least 1")
	}
	for i := range min(o.Publishers, o.Rooms*o.Members) {
		r, k := i%o.Rooms, i/o.Rooms
		m := k % o.Members
		if o.PublisherNode > 0 {
			// Members of room r on node j: m = (j - r) mod n, + n, + 2n, …
			first := ((o.PublisherNode-1-r)%p.nodes + p.nodes) % p.nodes
			on := (o.Members - first + p.nodes - 1) / p.nodes
			if on <= 0 {
				return p, fmt.Errorf("bench: --publisher-node %d: room %d has no member on it (--members %d over %d nodes)", o.PublisherNode, r, o.Members, p.nodes)
			}
			m = first + p.nodes*(k%on)
		}
		p.pubMember = append(p.pubMember, m)
	}
	return p, nil
}

// node is the node of member m of room r.
func (p fanoutPlan) node(r, m int) int { return (r + m) % p.nodes }

// onNode is how many members of room r are on node j.
func (p fanoutPlan) onNode(r, j int) int {
	first := ((j-r)%p.nodes + p.nodes) % p.nodes
	return max((p.members-first+p.nodes-1)/p.nodes, 0)
}

// runFanout joins o.Rooms × o.Members connections, spread over the nodes,
// then o.Publishers of them publish timestamped messages for o.Duration;
// every receiver measures publish→deliver latency from the timestamp in the
// text. The publishers' members join first, so in a cluster each room is
// owned by the node its first publisher is on.
func runFanout(ctx context.Context, o Options, progress io.Writer) (FanoutResult, error) {
	nodes := o.nodes()
	res := FanoutResult{Rooms: o.Rooms, Members: o.Members, Publishers: o.Publishers, TargetRate: o.Rate, Nodes: len(nodes), PublisherNode: "spread"}
	if o.PublisherNode > 0 {
		res.PublisherNode = strconv.Itoa(o.PublisherNode)
	}
	plan, err := planFanout(o)
	if err != nil {
		return res, err
	}
	dialers := make([]*dialer, len(nodes))
	rcs := make(receivers, len(nodes))
	for j, u := range nodes {
		dialers[j] = &dialer{url: u, srcs: o.Src, compress: o.Compress}
		rcs[j] = &receiver{node: j}
	}
	total := o.Rooms * o.Members
	members := make([]*troupe.Client, total) // member m of room r at r*o.Members+m
	if len(nodes) > 1 {
		fmt.Fprintf(progress, "joining %d connections over %d nodes…\n", total, len(nodes))
	} else {
		fmt.Fprintf(progress, "joining %d connections…\n", total)
	}
	var joinErr atomic.Pointer[error]
	join := func(idx []int) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for _, g := range idx {
			if joinErr.Load() != nil {
				break
			}
			r, m := g/o.Members, g%o.Members
			j := plan.node(r, m)
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				c, err := dialers[j].join(ctx, fmt.Sprintf("m%d-%d", r, m), fmt.Sprintf("fanout-%d", r), rcs[j].onRawPush)
				if err != nil {
					joinErr.CompareAndSwap(nil, &err)
					return
				}
				members[g] = c
			})
		}
		wg.Wait()
	}
	isPub := make(map[int]bool)
	var first, rest []int
	for i, m := range plan.pubMember {
		if g := (i%o.Rooms)*o.Members + m; !isPub[g] {
			isPub[g] = true
			first = append(first, g)
		}
	}
	for g := range total {
		if !isPub[g] {
			rest = append(rest, g)
		}
	}
	join(first)
	join(rest)
	defer closeAll(members)
	if err := joinErr.Load(); err != nil {
		return res, *err
	}
	res.ServerNodes = make([]NodeResult, len(nodes))
	for j, u := range nodes {
		res.ServerNodes[j].URL = u
	}
	for g := range total {
		res.ServerNodes[plan.node(g/o.Members, g%o.Members)].Members++
	}
	var pubs []*publisher
	for i, m := range plan.pubMember {
		r := i % o.Rooms
		j := plan.node(r, m)
		same := int64(plan.onNode(r, j))
		pubs = append(pubs, &publisher{c: members[r*o.Members+m], room: fmt.Sprintf("fanout-%d", r), node: j, tag: len(nodes) > 1,
			same: same - 1, cross: int64(o.Members) - same})
		res.ServerNodes[j].Publishers++
	}
	if o.Settle > 0 {
		fmt.Fprintf(progress, "settling for %s…\n", o.Settle)
		select {
		case <-time.After(o.Settle):
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	beforeEach, before, err := scrapeAll(ctx, nodes)
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
			n := rcs.count()
			fmt.Fprintf(progress, "\r%4.0fs  sent %d  acked %d  deliveries %d (%.0f/s)  p99 %.1f ms   ",
				el, sent.Load(), acked.Load(), n, float64(n)/el, float64(rcs.merged(true, true).quantile(0.99))/1e6)
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
	for last := int64(-1); last != rcs.count(); {
		last = rcs.count()
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	afterEach, after, err := scrapeAll(ctx, nodes)
	if err != nil {
		return res, err
	}
	fmt.Fprintln(progress)
	res.Seconds = elapsed.Seconds()
	res.Sent, res.Acked, res.Deliveries = sent.Load(), acked.Load(), rcs.count()
	res.AckedPerSecond = float64(res.Acked) / res.Seconds
	res.Expected = res.Acked * int64(o.Members-1)
	res.Lost = max(res.Expected-res.Deliveries, 0)
	res.DeliveriesPerSec = float64(res.Deliveries) / res.Seconds
	all := rcs.merged(true, true)
	res.LatencyP50Ms = ms(all.quantile(0.50))
	res.LatencyP95Ms = ms(all.quantile(0.95))
	res.LatencyP99Ms = ms(all.quantile(0.99))
	res.LatencyMaxMs = ms(time.Duration(all.max.Load()))
	for _, p := range pubs {
		res.SameNode.Expected += p.acked.Load() * p.same
		res.CrossNode.Expected += p.acked.Load() * p.cross
	}
	res.SameNode.fill(rcs.merged(true, false))
	res.CrossNode.fill(rcs.merged(false, true))
	res.ServerCPUPercent = 100 * (after.CPUSeconds - before.CPUSeconds) / res.Seconds
	res.ServerRSSBytes = after.RSSBytes
	res.ServerDeliveries = after.Deliveries - before.Deliveries
	if res.ServerDeliveries > 0 {
		res.ServerBytesPerDelivery = (after.BytesOut - before.BytesOut) / res.ServerDeliveries
		res.ServerCPUUsPerDelivery = 1e6 * (after.CPUSeconds - before.CPUSeconds) / res.ServerDeliveries
	}
	for j := range nodes {
		n, a, b := &res.ServerNodes[j], afterEach[j], beforeEach[j]
		n.CPUPercent = 100 * (a.CPUSeconds - b.CPUSeconds) / res.Seconds
		n.RSSBytes = a.RSSBytes
		n.Deliveries = a.Deliveries - b.Deliveries
		n.RoomsOwned, n.RoomsRelayed = a.RoomsActive-a.RoomsRelayed, a.RoomsRelayed
	}
	return res, nil
}

// fill sets s's deliveries, loss and latencies from h (Expected is set).
func (s *LatencySplit) fill(h *histogram) {
	s.Deliveries = h.count.Load()
	s.Lost = max(s.Expected-s.Deliveries, 0)
	s.LatencyP50Ms = ms(h.quantile(0.50))
	s.LatencyP99Ms = ms(h.quantile(0.99))
	s.LatencyMaxMs = ms(time.Duration(h.max.Load()))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

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
