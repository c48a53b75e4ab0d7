package registry

import (
	"runtime"
	"testing"

	"github.com/troupe-chat/troupe/metrics"
)

func TestNewGathersRuntimeAndTroupeMetrics(t *testing.T) {
	reg := New()
	m := metrics.New(reg)
	m.ConnectionsActive.Inc()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	want := []string{"go_goroutines", "troupe_connections_active"}
	if runtime.GOOS == "linux" {
		want = append(want, "process_cpu_seconds_total", "process_resident_memory_bytes")
	}
	for _, n := range want {
		if !names[n] {
			t.Errorf("registry gathered no %s", n)
		}
	}
}
