package drill

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/troupe-chat/troupe/actors/drills"
)

// Report is the outcome of one `troupe drill` run.
type Report struct {
	URL string `json:"url"`
	// Nodes are the cluster's nodes the clients were spread over (none:
	// URL alone).
	Nodes    []string `json:"nodes,omitempty"`
	Kinds    []string `json:"kinds"`
	Clients  int      `json:"clients"`
	Rooms    int      `json:"rooms"`
	Duration string   `json:"duration"`

	Messages Messages `json:"messages"`
	Verdict  Verdict  `json:"verdict"`
	OK       bool     `json:"ok"`

	// Recovery is the server-measured time to recover by drill kind (a room
	// serving again, a user actor restarted, the store backlog stored), ms.
	Recovery map[string]drills.Summary `json:"recovery_ms"`
	// Reconnect is the client-measured time from losing a connection to
	// having rejoined and recovered every room, ms.
	Reconnect drills.Summary `json:"reconnect_ms"`
	// AckLatency is the time from a message's first send to its ack,
	// retries included, ms.
	AckLatency drills.Summary `json:"ack_latency_ms"`
	Reconnects int            `json:"reconnects"`
	// NewSessions counts reconnects whose session the server did not
	// resume: the client came back as a new user, whose retries the room's
	// dedup (by user and cid) cannot match with the old user's sends.
	NewSessions int `json:"new_sessions"`
	// Restarts counts actor restarts on the server during the run, and
	// RoomsStopped the rooms stopped past their restart budget (clients
	// then join them again).
	Restarts     int `json:"restarts"`
	RoomsStopped int `json:"rooms_stopped"`
	// Rejoins counts joins the clients made again after their room closed.
	Rejoins int `json:"rejoins"`
	// Faults counts faults injected by kind.
	Faults map[string]int `json:"faults"`
	// ServerErrors counts error frames the server sent during the run (to
	// any client), by code; ClientErrors the errors the drill's own sends
	// ended with, by code.
	ServerErrors map[string]int  `json:"server_errors"`
	ClientErrors map[string]int  `json:"client_errors"`
	Drills       []drills.Report `json:"drills"`
	DrillErrors  []string        `json:"drill_errors,omitempty"`
	// NodeFault is the run's node drill (node-kill, node-pause), if any.
	NodeFault *NodeFaultReport `json:"node_fault,omitempty"`
	// DrillLag is how long the drill's goroutines waited to run once the
	// network woke them, ms (lagMeter): high when the drill, the load
	// generator, was short of CPU, and every client-measured time then
	// includes it.
	DrillLag drills.Summary `json:"drill_lag_ms"`
	// DiscountedChecks counts health checks that timed out while the drill
	// lagged and so did not count against the node.
	DiscountedChecks int `json:"discounted_checks"`
}

// NodeFaultReport is what a node drill did and cost. Times are in ms from
// the signal.
type NodeFaultReport struct {
	Kind string `json:"kind"`
	Node string `json:"node"` // the signalled node's URL
	PID  int    `json:"pid"`
	// Injected says whether the signal was sent.
	Injected bool `json:"injected"`
	// AtMS is when the signal was sent, from the start of the load.
	AtMS float64 `json:"at_ms"`
	// PauseMS is how long a node-pause kept the node stopped.
	PauseMS float64 `json:"pause_ms,omitempty"`
	// DetectedMS is when the drill's health checks (its stand-in for a
	// load balancer) marked the node down and closed its connections; 0:
	// never.
	DetectedMS float64 `json:"detected_ms"`
	// OthersMarkedDown counts how often, after the signal, the health
	// checks marked down a node the drill did not fault (and closed its
	// connections): checks starved by the drill's own load, not a fault of
	// the cluster, and every one a reconnect storm of its own.
	OthersMarkedDown int `json:"others_marked_down"`
	// OwnedRooms counts the drill rooms the node owned: each room's first
	// member joined on it. OwnedByMetrics is the node's own count just
	// before the signal (troupe_rooms_active - troupe_rooms_relayed, every
	// room it owned; -1: not read).
	OwnedRooms     int `json:"owned_rooms"`
	OwnedByMetrics int `json:"owned_by_metrics"`
	// Clients counts the drill clients connected to the node at the signal.
	Clients int `json:"clients"`
	// Replacement is, per room the node owned, the time until the first ack
	// of a send made in that room after the signal.
	Replacement drills.Summary `json:"replacement_ms"`
	// ClientReconnect is, per client of the node, the time until it had
	// rejoined its rooms on another node.
	ClientReconnect drills.Summary `json:"client_reconnect_ms"`
	// UnplacedRooms counts owned rooms without such an ack, and
	// StrandedClients the node's clients that never rejoined elsewhere.
	UnplacedRooms   int    `json:"unplaced_rooms"`
	StrandedClients int    `json:"stranded_clients"`
	Error           string `json:"error,omitempty"`
}

// Messages counts the drill's own messages.
type Messages struct {
	Sent    int `json:"sent"`    // distinct messages (cids) sent
	Acked   int `json:"acked"`   // of which the server acked
	Retried int `json:"retried"` // extra send attempts of the same cid
	Failed  int `json:"failed"`  // given up without an ack (not counted as lost)
}

// summarize folds the drills' reports into the run's report.
func (r *Report) summarize(reps []drills.Report) {
	r.Drills = reps
	r.Recovery = map[string]drills.Summary{}
	r.Faults = map[string]int{}
	samples := map[string][]float64{}
	for _, d := range reps {
		kind := string(d.Spec.Kind)
		r.Faults[kind] += d.Injected
		samples[kind] = append(samples[kind], d.RecoverySamples...)
		if d.State == drills.Failed {
			r.DrillErrors = append(r.DrillErrors, fmt.Sprintf("%s %s: %s", d.ID, kind, d.Error))
		}
	}
	for kind, s := range samples {
		r.Recovery[kind] = drills.Summarize(s)
	}
}

// write prints the report for people.
func (r *Report) write(w io.Writer) {
	verdict := "PASS: nothing acked was lost or duplicated"
	if !r.OK {
		verdict = "FAIL"
	}
	target := r.URL
	if len(r.Nodes) > 0 {
		target = strings.Join(r.Nodes, ",")
	}
	fmt.Fprintf(w, "troupe drill — %s — %s\n", target, verdict)
	fmt.Fprintf(w, "  load       %d clients in %d rooms for %s; faults: %s\n", r.Clients, r.Rooms, r.Duration, strings.Join(r.Kinds, ", "))
	m := r.Messages
	fmt.Fprintf(w, "  messages   sent %d  acked %d  retried %d  failed %d\n", m.Sent, m.Acked, m.Retried, m.Failed)
	v := r.Verdict
	fmt.Fprintf(w, "  delivery   lost %d  duplicated %d  gaps %d  out of order %d\n", v.Lost, v.Duplicated, v.Gaps, v.OutOfOrder)
	fmt.Fprintf(w, "  faults     %s   restarts %d   rooms stopped %d (rejoined %d)   reconnects %d (new sessions %d)\n",
		counts(r.Faults), r.Restarts, r.RoomsStopped, r.Rejoins, r.Reconnects, r.NewSessions)
	fmt.Fprintf(w, "  recovery   (server: fault → serving again)\n")
	for _, kind := range slices.Sorted(maps.Keys(r.Recovery)) {
		s := r.Recovery[kind]
		if s.Count == 0 {
			continue
		}
		fmt.Fprintf(w, "    %-12s n=%-4d p50 %s  p99 %s  max %s\n", kind, s.Count, ms(s.P50), ms(s.P99), ms(s.Max))
	}
	if s := r.Reconnect; s.Count > 0 {
		fmt.Fprintf(w, "    %-12s n=%-4d p50 %s  p99 %s  max %s   (client: drop → rejoined and recovered)\n", "reconnect", s.Count, ms(s.P50), ms(s.P99), ms(s.Max))
	}
	if s := r.AckLatency; s.Count > 0 {
		fmt.Fprintf(w, "  ack        p50 %s  p99 %s  max %s   (first send → ack, retries included)\n", ms(s.P50), ms(s.P99), ms(s.Max))
	}
	if f := r.NodeFault; f != nil {
		f.write(w)
	}
	if s := r.DrillLag; s.Count > 0 {
		fmt.Fprintf(w, "  drill lag  p50 %s  p99 %s  max %s   (how late the network woke the drill's goroutines; %d health checks discounted for it)\n",
			ms(s.P50), ms(s.P99), ms(s.Max), r.DiscountedChecks)
	}
	fmt.Fprintf(w, "  errors     server sent: %s   clients saw: %s\n", counts(r.ServerErrors), counts(r.ClientErrors))
	for _, e := range r.DrillErrors {
		fmt.Fprintf(w, "  drill      %s\n", e)
	}
	for _, p := range v.Problems {
		fmt.Fprintf(w, "  problem    %s\n", p)
	}
}

// write prints the node drill's lines of the report.
func (f *NodeFaultReport) write(w io.Writer) {
	if !f.Injected {
		fmt.Fprintf(w, "  node       %s of %s (pid %d) NOT injected: %s\n", f.Kind, f.Node, f.PID, f.Error)
		return
	}
	pause := ""
	if f.PauseMS > 0 {
		pause = " for " + ms(f.PauseMS)
	}
	detected := "never"
	if f.DetectedMS > 0 {
		detected = ms(f.DetectedMS)
	}
	fmt.Fprintf(w, "  node       %s of %s (pid %d)%s at %s: it owned %d drill rooms (%d rooms by its metrics), %d clients; marked down after %s\n",
		f.Kind, f.Node, f.PID, pause, ms(f.AtMS), f.OwnedRooms, f.OwnedByMetrics, f.Clients, detected)
	if f.OthersMarkedDown > 0 {
		fmt.Fprintf(w, "    health checks also marked a node that was not faulted down %d times, closing its connections (checks starved by the drill's own load?)\n", f.OthersMarkedDown)
	}
	if s := f.Replacement; s.Count > 0 {
		fmt.Fprintf(w, "    %-12s n=%-4d p50 %s  p99 %s  max %s   (signal → first ack of a later send, per room it owned)\n", "re-placement", s.Count, ms(s.P50), ms(s.P99), ms(s.Max))
	}
	if s := f.ClientReconnect; s.Count > 0 {
		fmt.Fprintf(w, "    %-12s n=%-4d p50 %s  p99 %s  max %s   (signal → rejoined on another node, per client it had)\n", "failover", s.Count, ms(s.P50), ms(s.P99), ms(s.Max))
	}
	if f.UnplacedRooms > 0 || f.StrandedClients > 0 {
		fmt.Fprintf(w, "    not measured: %d rooms never acked a later send, %d clients never rejoined elsewhere\n", f.UnplacedRooms, f.StrandedClients)
	}
	if f.Error != "" {
		fmt.Fprintf(w, "    error: %s\n", f.Error)
	}
}

func ms(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fs", v/1000)
	}
	return fmt.Sprintf("%.1fms", v)
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
