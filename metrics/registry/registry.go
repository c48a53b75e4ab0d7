// Package registry builds the Prometheus registry a troupe server serves: the Go
// runtime and process collectors beside troupe's own. It is kept apart from
// package metrics because the process collectors pull in packages (database/sql
// among them) that the actors, which import metrics, must not depend on.
package registry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// New returns a registry holding the Go runtime and process collectors, ready
// for metrics.New and for serving with promhttp.HandlerFor.
func New() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}
