package drill

import (
	"context"
	"fmt"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// serverCounters are the server's own counts, read from /metrics at the
// start and end of a run, so the report counts each event once however many
// drills overlapped.
type serverCounters struct {
	restarts     float64
	roomsStopped float64
	errors       map[string]float64 // error frames sent, by code
	// roomsActive and roomsRelayed are gauges: the node owns the active
	// rooms it does not relay.
	roomsActive, roomsRelayed float64
}

func (c *apiClient) counters(ctx context.Context) (serverCounters, error) {
	s := serverCounters{errors: map[string]float64{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return s, fmt.Errorf("read /metrics: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return s, fmt.Errorf("read /metrics: %w", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return s, fmt.Errorf("parse /metrics: %w", err)
	}
	sum := func(name string, f func(labels map[string]string, v float64)) {
		fam, ok := families[name]
		if !ok {
			return
		}
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := m.GetCounter().GetValue()
			if fam.GetType() == dto.MetricType_GAUGE {
				v = m.GetGauge().GetValue()
			}
			f(labels, v)
		}
	}
	sum("troupe_actor_restarts_total", func(_ map[string]string, v float64) { s.restarts += v })
	sum("troupe_rooms_stopped_total", func(_ map[string]string, v float64) { s.roomsStopped += v })
	sum("troupe_errors_sent_total", func(l map[string]string, v float64) { s.errors[l["code"]] += v })
	sum("troupe_rooms_active", func(_ map[string]string, v float64) { s.roomsActive += v })
	sum("troupe_rooms_relayed", func(_ map[string]string, v float64) { s.roomsRelayed += v })
	return s, nil
}

// since returns the counts of s that happened after before.
func (s serverCounters) since(before serverCounters) (restarts, roomsStopped int, errors map[string]int) {
	errors = map[string]int{}
	for code, v := range s.errors {
		if d := int(v - before.errors[code]); d > 0 {
			errors[code] = d
		}
	}
	return int(s.restarts - before.restarts), int(s.roomsStopped - before.roomsStopped), errors
}

// nodeCounters reads the counters of every node but those skip names.
func nodeCounters(ctx context.Context, apis []*apiClient, skip func(node int) bool) (map[int]serverCounters, error) {
	out := map[int]serverCounters{}
	for node, api := range apis {
		if skip(node) {
			continue
		}
		c, err := api.counters(ctx)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", api.base, err)
		}
		out[node] = c
	}
	return out, nil
}

// clusterSince returns the counts that happened between before and after,
// summed over the nodes read both times.
func clusterSince(before, after map[int]serverCounters) (restarts, roomsStopped int, errors map[string]int) {
	errors = map[string]int{}
	for node, a := range after {
		b, ok := before[node]
		if !ok {
			continue
		}
		r, s, e := a.since(b)
		restarts += r
		roomsStopped += s
		for code, n := range e {
			errors[code] += n
		}
	}
	return restarts, roomsStopped, errors
}
