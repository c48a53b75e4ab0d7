package retention

import (
	"reflect"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

func TestPlan(t *testing.T) {
	now := time.UnixMilli(1_000_000).UTC()
	for _, tc := range []struct {
		last  uint64
		p     Policy
		floor int
		want  []persistence.TrimRequest
	}{
		{0, Policy{MaxCount: 5}, 0, nil},
		{10, Policy{MaxCount: 5}, 10, nil},                                  // at the floor
		{10, Policy{MaxCount: 20}, 0, nil},                                  // under the count
		{10, Policy{MaxCount: 5}, 0, []persistence.TrimRequest{{UpTo: 5}}},  // count
		{10, Policy{MaxCount: 5}, -3, []persistence.TrimRequest{{UpTo: 5}}}, // negative floor: none
		{10, Policy{MaxCount: 2}, 4, []persistence.TrimRequest{{UpTo: 6}}},  // floor beats count
		{10, Policy{MaxAge: time.Second}, 4, []persistence.TrimRequest{{UpTo: 6, Before: now.Add(-time.Second)}}},
		{10, Policy{MaxAge: time.Second, MaxCount: 8}, 4, []persistence.TrimRequest{
			{UpTo: 2}, {UpTo: 6, Before: now.Add(-time.Second)}}},
		{10, Policy{}, 0, nil},
	} {
		if got := plan(tc.last, tc.p, tc.floor, now); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("plan(%d, %+v, floor %d) = %+v, want %+v", tc.last, tc.p, tc.floor, got, tc.want)
		}
	}
}
