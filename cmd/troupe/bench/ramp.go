package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// FanoutRamp is the outcome of a fanout run per rate of --rates.
type FanoutRamp struct {
	Steps []FanoutResult `json:"steps"`
}

// runRamp runs the fanout scenario once per rate, in order, and stops at the
// first run that fails.
func runRamp(ctx context.Context, o Options, progress io.Writer) (FanoutRamp, error) {
	var ramp FanoutRamp
	for _, rate := range o.Rates {
		step := o
		step.Rate = rate
		fmt.Fprintf(progress, "ramp: %g messages/s\n", rate)
		res, err := runFanout(ctx, step, progress)
		if err != nil {
			return ramp, fmt.Errorf("ramp at %g/s: %w", rate, err)
		}
		ramp.Steps = append(ramp.Steps, res)
	}
	return ramp, nil
}

// String prints one line per rate.
func (r FanoutRamp) String() string {
	var b strings.Builder
	cluster := false
	if len(r.Steps) > 0 {
		s := r.Steps[0]
		if cluster = s.Nodes > 1; cluster {
			fmt.Fprintf(&b, "fanout ramp: %d room(s) × %d members over %d nodes, %d publisher(s) (%s), %.1fs per step\n", s.Rooms, s.Members, s.Nodes, s.Publishers, publisherPlace(s.PublisherNode), s.Seconds)
		} else {
			fmt.Fprintf(&b, "fanout ramp: %d room(s) × %d members, %d publisher(s), %.1fs per step\n", s.Rooms, s.Members, s.Publishers, s.Seconds)
		}
	}
	fmt.Fprintf(&b, "  %10s %12s %14s %9s %9s %9s %6s %5s", "rate/s", "acked/s", "deliveries/s", "p50 ms", "p99 ms", "max ms", "lost", "CPU")
	if cluster {
		fmt.Fprintf(&b, " %11s %11s %12s %12s", "same p50", "same p99", "cross p50", "cross p99")
	}
	b.WriteString("\n")
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "  %10.0f %12.0f %14.0f %9.2f %9.2f %9.2f %6d %4.0f%%",
			s.TargetRate, s.AckedPerSecond, s.DeliveriesPerSec, s.LatencyP50Ms, s.LatencyP99Ms, s.LatencyMaxMs, s.Lost, s.ServerCPUPercent)
		if cluster {
			fmt.Fprintf(&b, " %11.2f %11.2f %12.2f %12.2f", s.SameNode.LatencyP50Ms, s.SameNode.LatencyP99Ms, s.CrossNode.LatencyP50Ms, s.CrossNode.LatencyP99Ms)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// parseRates reads "100,1000,5000"; empty means no ramp.
func parseRates(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("bench: --rates: %q is not a positive rate", f)
		}
		out = append(out, r)
	}
	return out, nil
}
