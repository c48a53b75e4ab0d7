package drills

import (
	"strings"
	"testing"
)

func TestSummarizeNearestRank(t *testing.T) {
	var ms []float64
	for i := 100; i >= 1; i-- {
		ms = append(ms, float64(i))
	}
	s := Summarize(ms)
	if s.Count != 100 || s.P50 != 50 || s.P99 != 99 || s.Max != 100 {
		t.Fatalf("Summarize(1..100) = %+v", s)
	}
	if s := Summarize([]float64{7}); s.P50 != 7 || s.P99 != 7 || s.Max != 7 {
		t.Fatalf("Summarize(7) = %+v", s)
	}
	if s := Summarize(nil); s != (Summary{}) {
		t.Fatalf("Summarize(nil) = %+v", s)
	}
}

func TestSpecDefaultsAndLimits(t *testing.T) {
	s, err := Spec{Kind: RoomCrash}.normalize()
	if err != nil || s.Count != 1 || s.IntervalMS != 200 || s.Mode != "stall" {
		t.Fatalf("defaults: %+v %v", s, err)
	}
	if s, _ := (Spec{Kind: ConnKill}).normalize(); s.Count != 0 || s.Fraction != 0.1 {
		t.Fatalf("conn-kill defaults: %+v", s)
	}
	for _, bad := range []Spec{
		{Kind: "meteor"}, {Kind: RoomCrash, Count: -1}, {Kind: RoomCrash, Count: maxCount + 1},
		{Kind: ConnKill, Fraction: 1.5}, {Kind: StoreStall, DurationMS: 11 * 60 * 1000}, {Kind: StoreStall, Mode: "melt"},
	} {
		if _, err := bad.normalize(); err == nil || !strings.Contains(err.Error(), "must") {
			t.Errorf("%+v: err %v, want a validation error", bad, err)
		}
	}
}
