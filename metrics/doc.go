// Package metrics defines troupe's Prometheus collectors.
//
// New creates a Metrics value and registers every collector with the registerer it
// is given; nothing is registered globally and the default registry is never used,
// so tests and multiple servers in one process each get their own registry.
// registry.New (package metrics/registry) returns a registry that also carries
// the Go runtime and process collectors, for production use:
//
//	reg := registry.New()
//	m := metrics.New(reg)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every metric name starts with "troupe_". Label values come only from bounded
// sets the server chooses (frame types, error codes, actor kinds, limit names…),
// never from client-supplied strings such as room names or user ids.
package metrics
