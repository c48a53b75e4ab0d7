package bench

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRates(t *testing.T) {
	got, err := parseRates(" 100, 1000,2500.5 ")
	if err != nil || !reflect.DeepEqual(got, []float64{100, 1000, 2500.5}) {
		t.Fatalf("parseRates = %v %v", got, err)
	}
	if got, err := parseRates(""); err != nil || got != nil {
		t.Fatalf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"10,,20", "fast", "0", "-5"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted it", bad)
		}
	}
}

func TestRampTable(t *testing.T) {
	r := FanoutRamp{Steps: []FanoutResult{
		{Rooms: 1, Members: 10, Publishers: 1, Seconds: 2, TargetRate: 100, DeliveriesPerSec: 1000, LatencyP99Ms: 3},
		{Rooms: 1, Members: 10, Publishers: 1, Seconds: 2, TargetRate: 200, DeliveriesPerSec: 2000, LatencyP99Ms: 4},
	}}
	out := r.String()
	if !strings.Contains(out, "1 room(s) × 10 members") || strings.Count(out, "\n") != 4 || !strings.Contains(out, "2000") {
		t.Fatalf("table:\n%s", out)
	}
}
