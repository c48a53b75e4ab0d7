package bench_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/cmd/troupe/app/apptest"
	"github.com/troupe-chat/troupe/cmd/troupe/bench"
)

// TestSignals: five clients signal each other; the signals sent reach the
// other four, none is lost beyond what the outboxes coalesce, and the
// server's figures are read.
func TestSignals(t *testing.T) {
	url := apptest.URL(apptest.Start(t, "--rate-limit", "0", "--signal-rate", "0", "--store", "memory:"))
	var r bench.SignalsResult
	runJSON(t, &r, "signals", "--url", url, "--clients", "5", "--rate", "20", "--duration", "500ms", "--room", "cursors")
	if r.Clients != 5 || r.Room != "cursors" || r.TargetRate != 20 {
		t.Errorf("result %+v does not echo the flags", r)
	}
	// 5 × 20/s for 0.5s: 50 due; the phases and ticks may cost a few.
	if r.Sent < 25 || r.Sent > 55 {
		t.Errorf("sent %d at 5 × 20/s for %.2fs", r.Sent, r.Seconds)
	}
	if r.Offers != r.Sent*4 || r.Delivered <= 0 || r.Delivered > r.Offers {
		t.Errorf("sent %d, offers %d, delivered %d: want offers = 4 × sent and 0 < delivered <= offers", r.Sent, r.Offers, r.Delivered)
	}
	if r.CoalescedShare < 0 || r.CoalescedShare >= 1 || r.SentPerSecond <= 0 || r.DeliveredPerSecond > r.OffersPerSecond {
		t.Errorf("coalesced %.3f, %.0f sent/s, %.0f delivered/s of %.0f offers/s", r.CoalescedShare, r.SentPerSecond, r.DeliveredPerSecond, r.OffersPerSecond)
	}
	if r.ServerCoalesced < 0 || r.Delivered+int64(r.ServerCoalesced) > r.Offers {
		t.Errorf("delivered %d + server-coalesced %.0f exceed the %d offers", r.Delivered, r.ServerCoalesced, r.Offers)
	}
	if r.ServerCPUCores <= 0 || r.ServerRSSBytes <= 0 {
		t.Errorf("server CPU %.3f cores, RSS %.0f bytes: want both read from /metrics", r.ServerCPUCores, r.ServerRSSBytes)
	}
	// The text report, and the flags checked before any connection.
	var stdout, stderr bytes.Buffer
	if code := bench.Run([]string{"signals", "--url", url, "--clients", "3", "--rate", "10", "--duration", "200ms"}, &stdout, &stderr); code != 0 ||
		!strings.HasPrefix(stdout.String(), "signals: 3 clients in room signals") || !strings.Contains(stdout.String(), "coalesced") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	stderr.Reset()
	if code := bench.Run([]string{"signals", "--url", url, "--clients", "1", "--rate", "10"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "--clients") {
		t.Errorf("one client: exit %d, stderr %q; want 1 naming --clients", code, stderr.String())
	}
}
