package app_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/cmd/troupe/drill"
)

// TestClusterDrillNodeKill runs `troupe drill --kinds node-kill` against
// three real nodes: the drill SIGKILLs the node that owns the most drill
// rooms while clients on every node send, and nothing acked is lost or
// duplicated; the rooms' re-placement and the clients' failover are timed.
func TestClusterDrillNodeKill(t *testing.T) {
	clusterDrill(t, "node-kill")
}

// TestClusterDrillNodePause runs `troupe drill --kinds node-pause`: the
// drill SIGSTOPs a node past its lease and SIGCONTs it, and nothing acked is
// lost or duplicated while other nodes take its rooms and clients.
func TestClusterDrillNodePause(t *testing.T) {
	clusterDrill(t, "node-pause")
}

// clusterDrill runs the drill of kind against a fresh three-node cluster
// and checks its JSON report.
func clusterDrill(t *testing.T, kind string) {
	c := startCluster(t, 3)
	var nodes, pids []string
	for _, p := range c.procs {
		nodes = append(nodes, "http://"+p.addr)
		pids = append(pids, strconv.Itoa(p.cmd.Process.Pid))
	}
	var stdout, stderr strings.Builder
	code := drill.Run([]string{
		"--nodes", strings.Join(nodes, ","), "--pids", strings.Join(pids, ","), "--api-key", "k",
		"--kinds", kind, "--clients", "12", "--rooms", "4", "--rate", "10", "--duration", "9s", "--settle", "30s", "--json",
	}, &stdout, &stderr)
	var rep drill.Report
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("exit %d, report %q: %v\nprogress:\n%s", code, stdout.String(), err, stderr.String())
	}
	f := rep.NodeFault
	v := rep.Verdict
	failed := code != 0 || f == nil || !f.Injected || len(rep.DrillErrors) > 0 || rep.Messages.Acked == 0 ||
		v.Lost != 0 || v.Gaps != 0 || v.OutOfOrder != 0 || v.Duplicated != 0
	if failed {
		t.Fatalf("exit %d:\n%s\nprogress:\n%s\nstored at the duplicates:\n%s\nnode logs:\n%s",
			code, stdout.String(), stderr.String(), duplicateCopies(t, c.procs[1].addr, v.Problems), nodeLogs(c))
	}
	if f.Node != nodes[0] || f.OwnedRooms == 0 || f.Clients == 0 {
		t.Fatalf("the drill hit %s, which owned %d rooms and had %d clients", f.Node, f.OwnedRooms, f.Clients)
	}
	if f.Replacement.Count == 0 || f.Replacement.Max <= 0 || f.ClientReconnect.Count == 0 || f.ClientReconnect.Max <= 0 {
		t.Fatalf("re-placement %+v, reconnect %+v: not measured\n%s", f.Replacement, f.ClientReconnect, stdout.String())
	}
	t.Logf("%s: acked %d of %d; re-placement n=%d p50 %.0fms p99 %.0fms max %.0fms; client failover n=%d p50 %.0fms p99 %.0fms max %.0fms; marked down after %.0fms; unplaced %d, stranded %d",
		kind, rep.Messages.Acked, rep.Messages.Sent, f.Replacement.Count, f.Replacement.P50, f.Replacement.P99, f.Replacement.Max,
		f.ClientReconnect.Count, f.ClientReconnect.P50, f.ClientReconnect.P99, f.ClientReconnect.Max, f.DetectedMS,
		f.UnplacedRooms, f.StrandedClients)
}

// duplicateCopies reads, from the node at addr, the stored copies of each
// "ROOM: cid … stored at offsets A and B" problem (with the users who sent
// them), for a failure's message.
func duplicateCopies(t *testing.T, addr string, problems []string) string {
	var b strings.Builder
	for _, p := range problems {
		var room, cid string
		var first, second int
		if _, err := fmt.Sscanf(strings.Replace(p, ":", " ", 1), "%s cid %s stored at offsets %d and %d", &room, &cid, &first, &second); err != nil {
			continue
		}
		for _, off := range []int{first, second} {
			_, page := apiCall(t, addr, "k", "GET", fmt.Sprintf("/api/rooms/%s/history?after=%d&limit=1", room, off-1), "")
			msgs, _ := page["msgs"].([]any)
			for _, m := range msgs {
				mm, _ := m.(map[string]any)
				fmt.Fprintf(&b, "  %s offset %v: %v from %v\n", room, mm["offset"], mm["text"], mm["from"])
			}
		}
	}
	return b.String()
}

// nodeLogs drains the log lines the nodes wrote after they started serving
// (as many as their buffers kept), for a failure's message.
func nodeLogs(c *clusterNodes) string {
	var b strings.Builder
	for i, p := range c.procs {
		for more := true; more; {
			select {
			case line := <-p.logs:
				b.WriteString("n" + strconv.Itoa(i+1) + ": " + line + "\n")
			default:
				more = false
			}
		}
	}
	return b.String()
}
