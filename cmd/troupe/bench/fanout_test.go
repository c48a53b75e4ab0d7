package bench

import (
	"fmt"
	"testing"
	"time"
)

// TestReceiverCounts: message and batch frames are consumed and each of
// their timestamped messages counted; other pushes are left to the client.
func TestReceiverCounts(t *testing.T) {
	sent := time.Now().Add(-3 * time.Millisecond).UnixNano()
	msg := func(text string) string {
		return fmt.Sprintf(`{"id":"m_1","offset":1,"ts":1,"from":{"id":"u=1","name":"a=b"},"kind":"text","text":%q,"data":null}`, text)
	}
	ts := fmt.Sprintf("t=%d;xxx=", sent)
	var rc receiver
	for _, c := range []struct {
		frame      string
		consumed   bool
		deliveries int64
	}{
		{`{"type":"message","room":"fanout-0","msg":` + msg(ts) + `}`, true, 1},
		{`{"type":"batch","room":"fanout-0","msgs":[` + msg(ts) + `,` + msg("no stamp") + `,` + msg(ts) + `]}`, true, 2},
		{`{"type":"message","room":"r","msg":` + msg("t=12x;") + `}`, true, 0},
		{`{"type":"presence_diff","room":"fanout-0","joins":[{"id":"u=1","name":"t=1;"}],"leaves":[]}`, false, 0},
		{`{"type":"typing","room":"fanout-0","on":true}`, false, 0},
	} {
		before := rc.deliveries.Load()
		if got := rc.onRawPush([]byte(c.frame)); got != c.consumed {
			t.Errorf("onRawPush(%s) = %v, want %v", c.frame, got, c.consumed)
		}
		if n := rc.deliveries.Load() - before; n != c.deliveries {
			t.Errorf("%s: counted %d deliveries, want %d", c.frame, n, c.deliveries)
		}
	}
	if p50 := rc.hist.quantile(0.5); p50 < 3*time.Millisecond || p50 > time.Second {
		t.Errorf("latency p50 %s, want about 3ms or a little more", p50)
	}
}
