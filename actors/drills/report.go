package drills

import (
	"slices"
	"time"
)

// State is where a drill is in its run.
type State string

// The states of a drill.
const (
	Running State = "running"
	Done    State = "done"
	Failed  State = "failed" // the drill could not do what it was asked
)

// Report is what a drill did and what it cost.
type Report struct {
	ID      string     `json:"id"`
	Spec    Spec       `json:"spec"`
	State   State      `json:"state"`
	Error   string     `json:"error,omitempty"`
	Started time.Time  `json:"started"`
	Ended   *time.Time `json:"ended,omitempty"`
	// Targets names what was hit: rooms, users, or the store.
	Targets []string `json:"targets,omitempty"`
	// Injected counts faults injected: crashes, killed connections, stalls.
	Injected int `json:"injected"`
	// Recovered counts faults whose target came back; Unrecovered those that
	// did not (a room stopped past its restart budget, a recovery that timed
	// out).
	Recovered   int `json:"recovered"`
	Unrecovered int `json:"unrecovered"`
	// Restarts is how many actors their supervisors restarted during the
	// drill, of any kind and for any reason.
	Restarts int `json:"restarts"`
	// RoomsStopped is how many rooms went past their restart budget.
	RoomsStopped int `json:"rooms_stopped"`
	// Recovery summarizes the time from each fault to the recovery of what
	// it hit, in milliseconds: a crashed room serving again after reloading
	// from the store, a stalled store having stored every pending message.
	// Killed connections recover on the client's side (reconnect and
	// since), which `troupe drill` measures.
	Recovery Summary `json:"recovery_ms"`
	// RecoverySamples are the durations Recovery summarizes, in milliseconds.
	RecoverySamples []float64 `json:"recovery_samples_ms,omitempty"`
	// Errors counts the error frames the server sent during the drill, by
	// protocol error code (for instance unavailable answers clients retry).
	Errors map[string]int `json:"errors"`
}

// Summary is a distribution of durations in milliseconds.
type Summary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Summarize computes a Summary of samples in milliseconds (nearest rank).
func Summarize(ms []float64) Summary {
	if len(ms) == 0 {
		return Summary{}
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	rank := func(q float64) float64 {
		i := int(q*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Summary{Count: len(s), P50: rank(0.50), P99: rank(0.99), Max: s[len(s)-1]}
}
