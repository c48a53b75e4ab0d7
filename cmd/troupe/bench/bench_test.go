package bench_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/cmd/troupe/app/apptest"
	"github.com/troupe-chat/troupe/cmd/troupe/bench"
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
