package drills

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/troupe-chat/troupe/metrics"
)

// counters is a reading of the metrics a drill report is computed from.
type counters struct {
	restarts     float64
	roomsStopped float64
	errors       map[string]float64 // error frames sent, by code
}

func snapshot(m *metrics.Metrics) counters {
	c := counters{errors: map[string]float64{}}
	each(m.ActorRestarts, func(_ map[string]string, v float64) { c.restarts += v })
	each(m.RoomsStoppedByBudget, func(_ map[string]string, v float64) { c.roomsStopped += v })
	each(m.ErrorsSent, func(labels map[string]string, v float64) { c.errors[labels["code"]] += v })
	return c
}

// each calls f with the labels and value of every counter col collects.
func each(col prometheus.Collector, f func(labels map[string]string, v float64)) {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		col.Collect(ch)
		close(ch)
	}()
	for metric := range ch {
		var pb dto.Metric
		if err := metric.Write(&pb); err != nil || pb.Counter == nil {
			continue
		}
		labels := make(map[string]string, len(pb.Label))
		for _, l := range pb.Label {
			labels[l.GetName()] = l.GetValue()
		}
		f(labels, pb.Counter.GetValue())
	}
}
