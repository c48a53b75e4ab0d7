package bench_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/cmd/troupe/app/apptest"
	"github.com/troupe-chat/troupe/cmd/troupe/bench"
	"github.com/troupe-chat/troupe/persistence/pgtest"
)

// startServer runs a real troupe server on 127.0.0.1:0 (SQLite in a temp
// dir, no per-connection rate limit, as the bench expects) and returns its
// base URL.
func startServer(t *testing.T) string {
	t.Helper()
	return apptest.URL(apptest.Start(t, "--rate-limit", "0"))
}

// runJSON runs `troupe bench args... --json`, wants exit status 0 and decodes
// the result into v.
func runJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := bench.Run(append(args, "--json"), &stdout, &stderr); code != 0 {
		t.Fatalf("bench %v: exit %d\nstderr:\n%s", args, code, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		t.Fatalf("bench %v: output %q: %v", args, stdout.String(), err)
	}
}

// checkFanout checks a fanout run: every message sent was acked and
// delivered to every other member of its room.
func checkFanout(t *testing.T, r bench.FanoutResult, members int) {
	t.Helper()
	if r.Sent == 0 || r.Acked != r.Sent {
		t.Errorf("sent %d, acked %d: want every message acked", r.Sent, r.Acked)
	}
	if want := r.Acked * int64(members-1); r.Expected != want || r.Deliveries != want || r.Lost != 0 {
		t.Errorf("deliveries %d of %d expected (want %d), %d lost", r.Deliveries, r.Expected, want, r.Lost)
	}
	if r.LatencyP99Ms <= 0 || r.LatencyMaxMs < r.LatencyP99Ms || r.LatencyP50Ms > r.LatencyP99Ms {
		t.Errorf("latency p50 %.3f p99 %.3f max %.3f ms: want 0 < p50 <= p99 <= max", r.LatencyP50Ms, r.LatencyP99Ms, r.LatencyMaxMs)
	}
	if r.DeliveriesPerSec <= 0 || r.ServerDeliveries < float64(r.Deliveries) {
		t.Errorf("%.0f deliveries/s, server counted %.0f: want > 0 and at least the %d received", r.DeliveriesPerSec, r.ServerDeliveries, r.Deliveries)
	}
}

func TestFanout(t *testing.T) {
	url := startServer(t)
	var r bench.FanoutResult
	runJSON(t, &r, "fanout", "--url", url, "--rooms", "2", "--members", "5", "--publishers", "2",
		"--rate", "200", "--duration", "1s", "--size", "64")
	if r.Rooms != 2 || r.Members != 5 || r.Publishers != 2 || r.TargetRate != 200 {
		t.Errorf("result %+v does not echo the flags", r)
	}
	checkFanout(t, r, 5)
	// 200/s for 1s; the ticker may drop a tick or two, not half of them.
	if r.Sent < 100 || r.Sent > 210 {
		t.Errorf("sent %d at 200/s for %.2fs", r.Sent, r.Seconds)
	}
}

// TestFanoutUnpaced: without --rate each publisher keeps --window sends in
// flight.
func TestFanoutUnpaced(t *testing.T) {
	url := startServer(t)
	var r bench.FanoutResult
	runJSON(t, &r, "fanout", "--url", url, "--rooms", "1", "--members", "3", "--publishers", "1",
		"--window", "4", "--duration", "500ms")
	checkFanout(t, r, 3)
}

// TestFanoutJSONFile: --json-file writes the result as JSON beside the text
// on stdout.
func TestFanoutJSONFile(t *testing.T) {
	url := startServer(t)
	file := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr bytes.Buffer
	if code := bench.Run([]string{"fanout", "--url", url, "--members", "3", "--rate", "50", "--duration", "300ms", "--json-file", file}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var r bench.FanoutResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	checkFanout(t, r, 3)
	if !strings.HasPrefix(stdout.String(), "fanout: 1 room(s) × 3 members") || r.Nodes != 1 || r.SameNode.Deliveries != r.Deliveries {
		t.Errorf("stdout %q, result %+v: want the text, and every delivery a same-node one", stdout.String(), r)
	}
}

func TestFanoutRamp(t *testing.T) {
	url := startServer(t)
	var ramp bench.FanoutRamp
	runJSON(t, &ramp, "fanout", "--url", url, "--rooms", "1", "--members", "4", "--publishers", "1",
		"--rates", "50,100", "--duration", "500ms")
	if len(ramp.Steps) != 2 {
		t.Fatalf("%d ramp steps, want 2: %+v", len(ramp.Steps), ramp)
	}
	for i, want := range []float64{50, 100} {
		if ramp.Steps[i].TargetRate != want {
			t.Errorf("step %d at %g/s, want %g", i, ramp.Steps[i].TargetRate, want)
		}
		checkFanout(t, ramp.Steps[i], 4)
	}
}

func TestIdle(t *testing.T) {
	url := startServer(t)
	var r bench.IdleResult
	runJSON(t, &r, "idle", "--url", url, "--conns", "50", "--rooms", "5", "--duration", "100ms")
	if r.Scenario != "idle" || r.Conns != 50 || r.Failed != 0 || r.ConnsPerSecond <= 0 {
		t.Errorf("idle: %+v, want 50 connections, none failed", r)
	}
	if r.RSSBeforeBytes <= 0 || r.RSSAfterBytes <= 0 {
		t.Errorf("idle: server RSS %.0f → %.0f bytes, want both read from /metrics", r.RSSBeforeBytes, r.RSSAfterBytes)
	}
}

func TestStorm(t *testing.T) {
	url := startServer(t)
	var r bench.IdleResult
	runJSON(t, &r, "storm", "--url", url, "--conns", "50", "--rooms", "5", "--src", "127.0.0.1,127.0.0.2")
	if r.Scenario != "storm" || r.Conns != 50 || r.Failed != 0 || r.ConnsPerSecond <= 0 {
		t.Errorf("storm: %+v, want 50 connections, none failed", r)
	}
	// --urls, repeated: the connections go to every node.
	other := startServer(t)
	runJSON(t, &r, "storm", "--urls", url, "--urls", other, "--conns", "40", "--rooms", "4")
	if r.Conns != 40 || r.Failed != 0 {
		t.Errorf("storm over two servers: %+v, want 40 connections, none failed", r)
	}
	for _, u := range []string{url, other} {
		if n := metric(t, u, "troupe_connections_opened_total"); n < 20 {
			t.Errorf("%s opened %.0f connections, want at least 20 of the 40", u, n)
		}
	}
}

// metric reads one unlabelled metric from a server's /metrics.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	t.Fatalf("%s: no %s in /metrics", base, name)
	return 0
}

// checkSplit checks a multi-node fanout's split: same-node and cross-node
// deliveries add up to all, each was delivered in full, and every node is
// reported.
func checkSplit(t *testing.T, r bench.FanoutResult, nodes int) {
	t.Helper()
	if r.Nodes != nodes || len(r.ServerNodes) != nodes {
		t.Fatalf("%d nodes, %d node results; want %d", r.Nodes, len(r.ServerNodes), nodes)
	}
	s, c := r.SameNode, r.CrossNode
	if s.Expected+c.Expected != r.Expected || s.Deliveries+c.Deliveries != r.Deliveries {
		t.Errorf("same node %+v + cross node %+v do not add up to %d of %d expected", s, c, r.Deliveries, r.Expected)
	}
	for name, sp := range map[string]bench.LatencySplit{"same": s, "cross": c} {
		if sp.Expected == 0 || sp.Deliveries != sp.Expected || sp.Lost != 0 {
			t.Errorf("%s node: %+v, want every expected delivery", name, sp)
		}
		if sp.LatencyP50Ms <= 0 || sp.LatencyP50Ms > sp.LatencyP99Ms || sp.LatencyP99Ms > sp.LatencyMaxMs {
			t.Errorf("%s node latency %+v: want 0 < p50 <= p99 <= max", name, sp)
		}
	}
	members, cpu := 0, 0.0
	for _, n := range r.ServerNodes {
		members += n.Members
		cpu += n.CPUPercent
	}
	if members != r.Rooms*r.Members || math.Abs(cpu-r.ServerCPUPercent) > 1e-6*max(1, cpu) {
		t.Errorf("nodes hold %d members and %.3f%% CPU, want %d and the total %.3f%%", members, cpu, r.Rooms*r.Members, r.ServerCPUPercent)
	}
}

// TestFanoutURLs: members spread over --urls, here one server under two
// URLs (two "nodes" that share every room), split by the publisher's node.
func TestFanoutURLs(t *testing.T) {
	url := startServer(t)
	var r bench.FanoutResult
	runJSON(t, &r, "fanout", "--urls", url+","+url, "--rooms", "3", "--members", "5", "--publishers", "3",
		"--rate", "150", "--duration", "1s")
	checkFanout(t, r, 5)
	checkSplit(t, r, 2)
	if r.PublisherNode != "spread" || r.ServerNodes[0].Publishers != 2 || r.ServerNodes[1].Publishers != 1 {
		t.Errorf("publishers %q, per node %d and %d: want spread, 2 and 1", r.PublisherNode, r.ServerNodes[0].Publishers, r.ServerNodes[1].Publishers)
	}
	runJSON(t, &r, "fanout", "--urls", url+","+url, "--rooms", "3", "--members", "5", "--publishers", "3",
		"--publisher-node", "2", "--rate", "150", "--duration", "1s")
	checkFanout(t, r, 5)
	checkSplit(t, r, 2)
	if r.PublisherNode != "2" || r.ServerNodes[0].Publishers != 0 || r.ServerNodes[1].Publishers != 3 {
		t.Errorf("publishers %q, per node %d and %d: want all 3 on node 2", r.PublisherNode, r.ServerNodes[0].Publishers, r.ServerNodes[1].Publishers)
	}
}

// TestFanoutCluster: a real two-node cluster (in this process, on one
// PostgreSQL): every message reaches the members on both nodes, a room is
// owned by its publisher's node and relayed by the other, and the
// cross-node deliveries are the other node's.
func TestFanoutCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two cluster nodes")
	}
	store := pgtest.New(t).NewDatabase(t)
	hosts := []string{"127.0.0.2", "127.0.0.3"}
	var routes []string
	for _, h := range hosts {
		l, err := net.Listen("tcp", h+":0")
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, l.Addr().String())
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var urls []string
	for i, h := range hosts {
		a := apptest.Start(t, "--addr", h+":0", "--store", store, "--rate-limit", "0", "--node-id", fmt.Sprintf("n%d", i+1),
			"--cluster-listen", routes[i], "--cluster-peers", strings.Join(routes, ","))
		urls = append(urls, apptest.URL(a))
	}
	for _, u := range urls {
		deadline := time.Now().Add(30 * time.Second)
		for metric(t, u, "troupe_cluster_nodes") != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the cluster did not form", u)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var r bench.FanoutResult
	runJSON(t, &r, "fanout", "--urls", strings.Join(urls, ","), "--rooms", "2", "--members", "6", "--publishers", "2",
		"--rate", "100", "--duration", "1s")
	checkFanout(t, r, 6)
	checkSplit(t, r, 2)
	for i, n := range r.ServerNodes {
		// Room i's publisher is its member 0, on node i, which joined first.
		if n.RoomsOwned != 1 || n.RoomsRelayed != 1 || n.Publishers != 1 || n.Members != 6 {
			t.Errorf("node %d: %+v, want 6 members, 1 publisher, owning 1 room and relaying 1", i+1, n)
		}
	}
}

// TestNodeFlags: --url and --urls do not mix, every node must be on
// loopback, and --publisher-node names one of them.
func TestNodeFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", "http://127.0.0.1:1", "--urls", "http://127.0.0.2:1"}, "not both"},
		{[]string{"--urls", "http://127.0.0.2:1,http://192.0.2.1:1"}, "loopback"},
		{[]string{"--urls", "http://127.0.0.2:1,,http://127.0.0.3:1"}, "empty URL"},
		{[]string{"--urls", "http://127.0.0.2:1,http://127.0.0.3:1", "--publisher-node", "3"}, "from 1 to 2"},
		{[]string{"--publisher-node", "first"}, "from 1 to 1"},
	} {
		var stdout, stderr bytes.Buffer
		if code := bench.Run(append([]string{"fanout"}, c.args...), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// TestTargetMustBeLoopback: a target off loopback is refused before any
// connection, unless --allow-non-loopback.
func TestTargetMustBeLoopback(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := bench.Run([]string{"idle", "--url", "http://192.0.2.1:8080", "--conns", "1"}, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2; stderr: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "loopback") || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q: want the loopback refusal only", stdout.String(), stderr.String())
	}
}

// TestStormNoPresence configures the storm's rooms with presence off
// through the server API before joining them.
func TestStormNoPresence(t *testing.T) {
	url := apptest.URL(apptest.Start(t, "--rate-limit", "0", "--api-key", "bench-key"))
	var r bench.IdleResult
	runJSON(t, &r, "storm", "--url", url, "--conns", "30", "--rooms", "3", "--no-presence", "--api-key", "bench-key")
	if r.Conns != 30 || r.Failed != 0 {
		t.Errorf("storm: %+v, want 30 connections, none failed", r)
	}
	for i := range 3 {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/rooms/idle-%d", url, i), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer bench-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var room struct {
			Presence *bool `json:"presence"`
			Members  int   `json:"members"`
		}
		err = json.NewDecoder(resp.Body).Decode(&room)
		resp.Body.Close()
		if err != nil || room.Presence == nil || *room.Presence || room.Members != 10 {
			t.Errorf("idle-%d: %+v (%v), want presence false and 10 members", i, room, err)
		}
	}
	var stderr bytes.Buffer
	if code := bench.Run([]string{"storm", "--url", url, "--no-presence"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "--api-key") {
		t.Errorf("--no-presence without --api-key: exit %d, %q; want 2 naming --api-key", code, stderr.String())
	}
}
