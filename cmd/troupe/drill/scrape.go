package drill

import (
	"context"
	"fmt"
	"net/http"

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
			f(labels, m.GetCounter().GetValue())
		}
	}
	sum("troupe_actor_restarts_total", func(_ map[string]string, v float64) { s.restarts += v })
	sum("troupe_rooms_stopped_total", func(_ map[string]string, v float64) { s.roomsStopped += v })
	sum("troupe_errors_sent_total", func(l map[string]string, v float64) { s.errors[l["code"]] += v })
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
