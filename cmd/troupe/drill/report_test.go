package drill

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/actors/drills"
)

func TestNodeFaultReportIsPrintedAndEncoded(t *testing.T) {
	r := Report{URL: "http://127.0.0.3:1", Nodes: []string{"http://127.0.0.2:1", "http://127.0.0.3:1"}, OK: true,
		NodeFault: &NodeFaultReport{Kind: string(NodePause), Node: "http://127.0.0.2:1", PID: 42, Injected: true,
			AtMS: 4500, PauseMS: 6000, DetectedMS: 2000, OwnedRooms: 2, OwnedByMetrics: 2, Clients: 4,
			Replacement:     drills.Summary{Count: 2, P50: 2100, P99: 3050, Max: 3050},
			ClientReconnect: drills.Summary{Count: 4, P50: 2250, P99: 2400, Max: 2400}, StrandedClients: 1}}
	var out strings.Builder
	r.write(&out)
	for _, want := range []string{"127.0.0.2:1,http://127.0.0.3:1 — PASS", "node-pause of http://127.0.0.2:1 (pid 42) for 6.00s at 4.50s",
		"marked down after 2.00s", "re-placement n=2    p50 2.10s", "failover     n=4    p50 2.25s", "1 clients never rejoined"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"node_fault":{`, `"replacement_ms":{"count":2`, `"client_reconnect_ms":{"count":4`, `"stranded_clients":1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
	r.NodeFault = &NodeFaultReport{Kind: string(NodeKill), Node: "http://127.0.0.2:1", PID: 42, Error: "pid 42: no such process"}
	out.Reset()
	r.write(&out)
	if !strings.Contains(out.String(), "NOT injected: pid 42: no such process") {
		t.Errorf("a fault not injected:\n%s", out.String())
	}
}
