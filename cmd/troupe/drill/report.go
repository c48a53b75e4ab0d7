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
	URL      string   `json:"url"`
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
	fmt.Fprintf(w, "troupe drill — %s — %s\n", r.URL, verdict)
	fmt.Fprintf(w, "  load       %d clients in %d rooms for %s; faults: %s\n", r.Clients, r.Rooms, r.Duration, strings.Join(r.Kinds, ", "))
	m := r.Messages
	fmt.Fprintf(w, "  messages   sent %d  acked %d  retried %d  failed %d\n", m.Sent, m.Acked, m.Retried, m.Failed)
	v := r.Verdict
	fmt.Fprintf(w, "  delivery   lost %d  duplicated %d  gaps %d  out of order %d\n", v.Lost, v.Duplicated, v.Gaps, v.OutOfOrder)
	fmt.Fprintf(w, "  faults     %s   restarts %d   rooms stopped %d (rejoined %d)   reconnects %d\n",
		counts(r.Faults), r.Restarts, r.RoomsStopped, r.Rejoins, r.Reconnects)
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
	fmt.Fprintf(w, "  errors     server sent: %s   clients saw: %s\n", counts(r.ServerErrors), counts(r.ClientErrors))
	for _, e := range r.DrillErrors {
		fmt.Fprintf(w, "  drill      %s\n", e)
	}
	for _, p := range v.Problems {
		fmt.Fprintf(w, "  problem    %s\n", p)
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
