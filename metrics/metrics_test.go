package metrics

import (
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// value gathers reg and returns the counter or gauge value of the series named
// name whose labels include the given name/value pairs.
func value(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// touch updates every collector of m once, so each appears when gathered.
func touch(m *Metrics) {
	m.ConnectionsActive.Inc()
	m.ConnectionsOpened.Inc()
	m.CloseCode(1000)
	m.UpgradesRejected.WithLabelValues("origin").Inc()
	m.FramesIn.WithLabelValues("send").Inc()
	m.FramesOut.WithLabelValues("message").Inc()
	m.Deliveries.Add(3)
	m.Drops.WithLabelValues("outbox_full").Inc()
	m.RoomsActive.Set(2)
	m.UsersActive.Set(1)
	m.SessionsActive.Set(1)
	m.MessagesStored.Inc()
	m.BatchSize.Observe(4)
	m.StoreLatency.WithLabelValues("append").Observe(0.002)
	m.PublishDeliverLatency.Observe(0.0001)
	m.ActorRestarts.WithLabelValues("room", "drill").Inc()
	m.ActorCrashes.WithLabelValues("conn", "panic").Inc()
	m.RoomsStoppedByBudget.Inc()
	m.HeartbeatTimeouts.Inc()
	m.SlowConsumerCloses.Inc()
	m.LimitRejections.WithLabelValues("rate").Inc()
	m.OutboxDepth.Observe(10)
	m.ErrorsSent.WithLabelValues("bad_request").Inc()
	m.MailboxDepth.WithLabelValues("room").Set(5)
	m.StoreRetries.Inc()
	m.DrillRuns.WithLabelValues("kill_room", "ok").Inc()
	m.DrillRecovery.WithLabelValues("room-crash").Observe(0.01)
	m.SessionsOpened.WithLabelValues("resumed").Inc()
	m.HeartbeatRTT.Observe(0.002)
	m.BytesIn.Add(10)
	m.BytesOut.Add(20)
	m.DeflatedIn.Add(300)
	m.DeflatedOut.Add(100)
	m.ClusterMessages.WithLabelValues("out", "feed").Inc()
	m.ClusterBytes.WithLabelValues("out", "feed").Add(10)
	m.ClusterConnected.Set(1)
	m.ClusterNodes.Set(3)
	m.LeaseRenewals.WithLabelValues("ok").Inc()
	m.LeaseLosses.Inc()
	m.RoomClaims.WithLabelValues("won").Inc()
	m.FencedWrites.Inc()
	m.RelayBackfills.Inc()
	m.RoomsRelayed.Inc()
	m.Forwarded.WithLabelValues("acked").Inc()
}

var wantNames = []string{
	"troupe_actor_crashes_total",
	"troupe_actor_restarts_total",
	"troupe_bytes_in_total",
	"troupe_bytes_out_total",
	"troupe_cluster_bytes_total",
	"troupe_cluster_connected",
	"troupe_cluster_messages_total",
	"troupe_cluster_nodes",
	"troupe_connections_active",
	"troupe_connections_closed_total",
	"troupe_connections_opened_total",
	"troupe_deflate_input_bytes_total",
	"troupe_deflate_output_bytes_total",
	"troupe_deliveries_total",
	"troupe_drill_recovery_seconds",
	"troupe_drill_runs_total",
	"troupe_drops_total",
	"troupe_errors_sent_total",
	"troupe_fenced_writes_total",
	"troupe_forwarded_sends_total",
	"troupe_frames_in_total",
	"troupe_frames_out_total",
	"troupe_heartbeat_rtt_seconds",
	"troupe_heartbeat_timeouts_total",
	"troupe_lease_losses_total",
	"troupe_lease_renewals_total",
	"troupe_limit_rejections_total",
	"troupe_mailbox_depth",
	"troupe_messages_stored_total",
	"troupe_outbox_depth",
	"troupe_publish_deliver_latency_seconds",
	"troupe_relay_backfills_total",
	"troupe_room_batch_size",
	"troupe_room_claims_total",
	"troupe_rooms_active",
	"troupe_rooms_relayed",
	"troupe_rooms_stopped_total",
	"troupe_sessions_active",
	"troupe_sessions_opened_total",
	"troupe_slow_consumer_closes_total",
	"troupe_store_latency_seconds",
	"troupe_store_retries_total",
	"troupe_upgrades_rejected_total",
	"troupe_users_active",
}

func TestNewRegistersEveryMetric(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	touch(m)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var got []string
	for _, mf := range mfs {
		got = append(got, mf.GetName())
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(wantNames, "\n") {
		t.Fatalf("gathered metrics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantNames, "\n"))
	}

	if v := value(t, reg, "troupe_deliveries_total"); v != 3 {
		t.Errorf("troupe_deliveries_total = %v, want 3", v)
	}
	if v := value(t, reg, "troupe_connections_closed_total", "code", "1000"); v != 1 {
		t.Errorf(`troupe_connections_closed_total{code="1000"} = %v, want 1`, v)
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	New(reg)
	defer func() {
		if recover() == nil {
			t.Fatal("second New on the same registry did not panic")
		}
	}()
	New(reg)
}

func TestNoSharedState(t *testing.T) {
	// Separate registries accept separate Metrics, and their values are independent.
	ra, rb := prometheus.NewPedanticRegistry(), prometheus.NewPedanticRegistry()
	a, b := New(ra), New(rb)
	a.MessagesStored.Inc()
	b.MessagesStored.Add(2)
	if v := value(t, ra, "troupe_messages_stored_total"); v != 1 {
		t.Fatalf("a's troupe_messages_stored_total = %v, want 1", v)
	}
	if v := value(t, rb, "troupe_messages_stored_total"); v != 2 {
		t.Fatalf("b's troupe_messages_stored_total = %v, want 2", v)
	}
}

func TestCloseCodeLabel(t *testing.T) {
	for code, want := range map[int]string{
		1000: "1000", 1001: "1001", 1006: "1006", 1015: "1015",
		4000: "4000", 4008: "4008", 4999: "4999",
		0: "other", -1: "other", 999: "other", 1016: "other", 2000: "other",
		3000: "other", 3999: "other", 5000: "other", 65535: "other",
	} {
		if got := closeCodeLabel(code); got != want {
			t.Errorf("closeCodeLabel(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestBuckets(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	touch(New(reg))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		var bounds []float64
		switch mf.GetName() {
		case "troupe_room_batch_size", "troupe_outbox_depth", "troupe_store_latency_seconds":
			for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
				bounds = append(bounds, b.GetUpperBound())
			}
		default:
			continue
		}
		first, last := bounds[0], bounds[len(bounds)-1]
		switch mf.GetName() {
		case "troupe_store_latency_seconds":
			if first != 100e-6 || last < 4.99 || last > 5.01 {
				t.Errorf("%s buckets %v, want 100µs … 5s", mf.GetName(), bounds)
			}
		default:
			if first != 1 || last != 1024 || len(bounds) != 11 {
				t.Errorf("%s buckets %v, want 1, 2, 4, … 1024", mf.GetName(), bounds)
			}
		}
	}
}
