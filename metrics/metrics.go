package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds every troupe collector. Create it with New; all fields are set and
// registered. Label values must come from bounded, server-chosen sets, never from
// client input (room names, user ids, message kinds, …).
type Metrics struct {
	// ConnectionsActive is the number of open WebSocket connections
	// (troupe_connections_active).
	ConnectionsActive prometheus.Gauge
	// ConnectionsOpened counts WebSocket connections accepted
	// (troupe_connections_opened_total).
	ConnectionsOpened prometheus.Counter
	// ConnectionsClosed counts closed connections by WebSocket close code
	// (troupe_connections_closed_total{code}). Use CloseCode, which bounds the label.
	ConnectionsClosed *prometheus.CounterVec
	// UpgradesRejected counts HTTP upgrade requests refused before a connection
	// opened, by server-chosen reason (troupe_upgrades_rejected_total{reason}).
	UpgradesRejected *prometheus.CounterVec

	// FramesIn counts frames received from clients by protocol frame type
	// (troupe_frames_in_total{type}); unknown types must share one label value.
	FramesIn *prometheus.CounterVec
	// FramesOut counts frames sent to clients by protocol frame type
	// (troupe_frames_out_total{type}).
	FramesOut *prometheus.CounterVec

	// Deliveries counts message deliveries to member outboxes: one message fanned
	// out to n members counts n (troupe_deliveries_total).
	Deliveries prometheus.Counter
	// Drops counts frames or messages discarded instead of delivered, by
	// server-chosen reason (troupe_drops_total{reason}).
	Drops *prometheus.CounterVec

	// RoomsActive is the number of running room actors (troupe_rooms_active).
	RoomsActive prometheus.Gauge
	// UsersActive is the number of distinct users with at least one session
	// (troupe_users_active).
	UsersActive prometheus.Gauge
	// SessionsActive is the number of live sessions, including those in their
	// resume grace period (troupe_sessions_active).
	SessionsActive prometheus.Gauge
	// SessionsOpened counts welcomed hellos by kind: "new" sessions and
	// "resumed" ones, a reconnect that kept its session
	// (troupe_sessions_opened_total{kind}).
	SessionsOpened *prometheus.CounterVec

	// HeartbeatRTT observes the seconds from a heartbeat ping written to a
	// connection to its pong (troupe_heartbeat_rtt_seconds; 250µs to 10s).
	HeartbeatRTT prometheus.Histogram
	// BytesIn counts the payload bytes of the WebSocket frames clients sent
	// (troupe_bytes_in_total).
	BytesIn prometheus.Counter
	// BytesOut counts the bytes of the WebSocket frames written to clients,
	// headers included (troupe_bytes_out_total).
	BytesOut prometheus.Counter
	// DeflatedIn and DeflatedOut count, for the frames sent compressed
	// (permessage-deflate), their bytes before and after deflating; their
	// ratio is the compression ratio (troupe_deflate_input_bytes_total,
	// troupe_deflate_output_bytes_total).
	DeflatedIn, DeflatedOut prometheus.Counter

	// MessagesStored counts messages written to the store
	// (troupe_messages_stored_total).
	MessagesStored prometheus.Counter
	// BatchSize observes the number of messages a room actor handles in one batch
	// (troupe_room_batch_size; buckets 1, 2, 4, …, 1024).
	BatchSize prometheus.Histogram

	// StoreLatency observes store call latency in seconds by operation
	// (troupe_store_latency_seconds{op}; buckets 100µs to 5s, exponential).
	StoreLatency *prometheus.HistogramVec

	// PublishDeliverLatency observes the seconds from receipt of a send frame to
	// the message being enqueued to member outboxes
	// (troupe_publish_deliver_latency_seconds).
	PublishDeliverLatency prometheus.Histogram

	// ActorRestarts counts supervisor restarts of actors by actor kind and
	// failure reason: drill, store or panic (troupe_actor_restarts_total{kind,reason}).
	ActorRestarts *prometheus.CounterVec
	// ActorCrashes counts actor panics by kind and reason, whether the actor
	// was restarted or stopped (troupe_actor_crashes_total{kind,reason}).
	ActorCrashes *prometheus.CounterVec
	// RoomsStoppedByBudget counts rooms the rooms supervisor stopped because they
	// exhausted their restart budget (troupe_rooms_stopped_total).
	RoomsStoppedByBudget prometheus.Counter

	// HeartbeatTimeouts counts connections closed for missing heartbeats
	// (troupe_heartbeat_timeouts_total).
	HeartbeatTimeouts prometheus.Counter
	// SlowConsumerCloses counts connections closed because their outbox was full
	// (troupe_slow_consumer_closes_total).
	SlowConsumerCloses prometheus.Counter
	// LimitRejections counts requests refused by a configured limit, by limit name
	// (troupe_limit_rejections_total{limit}), e.g. "rate", "max_conns".
	LimitRejections *prometheus.CounterVec
	// OutboxDepth observes a connection's outbox length, sampled on enqueue
	// (troupe_outbox_depth; buckets 1, 2, 4, …, 1024).
	OutboxDepth prometheus.Histogram

	// ErrorsSent counts error frames sent to clients by protocol error code
	// (troupe_errors_sent_total{code}).
	ErrorsSent *prometheus.CounterVec
	// MailboxDepth is the current mailbox length of actors, by actor kind
	// (troupe_mailbox_depth{kind}).
	MailboxDepth *prometheus.GaugeVec

	// StoreRetries counts store operations retried after a transient failure
	// (troupe_store_retries_total).
	StoreRetries prometheus.Counter
	// DrillRuns counts fault-injection drill runs by drill kind and outcome
	// (troupe_drill_runs_total{kind,outcome}).
	DrillRuns *prometheus.CounterVec
	// DrillRecovery observes, per drill kind, the seconds from a fault to the
	// recovery of what it hit (troupe_drill_recovery_seconds{kind}).
	DrillRecovery *prometheus.HistogramVec

	// ClusterMessages and ClusterBytes count the messages and payload bytes
	// this node exchanged with other nodes over the bus, by direction ("in",
	// "out") and traffic kind (feed, command, reply, user)
	// (troupe_cluster_messages_total{direction,kind},
	// troupe_cluster_bytes_total{direction,kind}).
	ClusterMessages, ClusterBytes *prometheus.CounterVec
	// ClusterConnected is 1 while the node's bus (NATS) connection is up
	// (troupe_cluster_connected).
	ClusterConnected prometheus.Gauge
	// ClusterNodes is the number of live nodes this node sees in the lease
	// table, itself included (troupe_cluster_nodes).
	ClusterNodes prometheus.Gauge
	// LeaseRenewals counts this node's lease renewals by outcome: "ok",
	// "error" (the store failed), "skipped" (the bus was down, so the lease
	// is left to expire) (troupe_lease_renewals_total{outcome}).
	LeaseRenewals *prometheus.CounterVec
	// LeaseLosses counts the times this node found its lease had expired
	// before it renewed it (troupe_lease_losses_total).
	LeaseLosses prometheus.Counter
	// RoomClaims counts room ownership claims by outcome: "won" (this node
	// owns the room now), "owned" (another live node does)
	// (troupe_room_claims_total{outcome}).
	RoomClaims *prometheus.CounterVec
	// FencedWrites counts appends the store refused because a newer owner
	// claimed the room (troupe_fenced_writes_total).
	FencedWrites prometheus.Counter
	// RelayBackfills counts the times a relay room read messages from the
	// store because the owner's feed skipped offsets
	// (troupe_relay_backfills_total).
	RelayBackfills prometheus.Counter
	// RoomsRelayed is the number of active rooms this node relays for an
	// owner on another node (troupe_rooms_relayed).
	RoomsRelayed prometheus.Gauge
	// Forwarded counts sends a relay forwarded to the room's owner, by
	// outcome: "acked", "retried" (no owner answered; re-placed and sent
	// again), "failed" (troupe_forwarded_sends_total{outcome}).
	Forwarded *prometheus.CounterVec
}

// New creates every collector and registers it with reg, which must be non-nil.
// It panics if registration fails, for instance when reg already holds troupe
// metrics: New keeps no global state, so give each server its own registry.
func New(reg prometheus.Registerer) *Metrics {
	powersOfTwo := prometheus.ExponentialBuckets(1, 2, 11) // 1 … 1024

	m := &Metrics{
		ConnectionsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "troupe_connections_active",
			Help: "Open WebSocket connections.",
		}),
		ConnectionsOpened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_connections_opened_total",
			Help: "WebSocket connections accepted.",
		}),
		ConnectionsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_connections_closed_total",
			Help: "WebSocket connections closed, by close code.",
		}, []string{"code"}),
		UpgradesRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_upgrades_rejected_total",
			Help: "WebSocket upgrade requests rejected, by reason.",
		}, []string{"reason"}),

		FramesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_frames_in_total",
			Help: "Frames received from clients, by frame type.",
		}, []string{"type"}),
		FramesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_frames_out_total",
			Help: "Frames sent to clients, by frame type.",
		}, []string{"type"}),

		Deliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_deliveries_total",
			Help: "Message deliveries to member outboxes.",
		}),
		Drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_drops_total",
			Help: "Frames or messages dropped instead of delivered, by reason.",
		}, []string{"reason"}),

		RoomsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "troupe_rooms_active",
			Help: "Running room actors.",
		}),
		UsersActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "troupe_users_active",
			Help: "Distinct users with at least one session.",
		}),
		SessionsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "troupe_sessions_active",
			Help: "Live sessions, including those in their resume grace period.",
		}),
		SessionsOpened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_sessions_opened_total",
			Help: "Welcomed hellos, by kind: a new session, or a resumed one (a reconnect that kept its session).",
		}, []string{"kind"}),
		HeartbeatRTT: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "troupe_heartbeat_rtt_seconds",
			Help:    "Seconds from a heartbeat ping written to a connection to its pong.",
			Buckets: prometheus.ExponentialBucketsRange(250e-6, 10, 16),
		}),
		BytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_bytes_in_total",
			Help: "Payload bytes of the WebSocket frames clients sent.",
		}),
		BytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_bytes_out_total",
			Help: "Bytes of the WebSocket frames written to clients, headers included.",
		}),
		DeflatedIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_deflate_input_bytes_total",
			Help: "Bytes of the frames sent compressed (permessage-deflate), before deflating.",
		}),
		DeflatedOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_deflate_output_bytes_total",
			Help: "Bytes of the frames sent compressed (permessage-deflate), after deflating.",
		}),

		MessagesStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_messages_stored_total",
			Help: "Messages written to the store.",
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "troupe_room_batch_size",
			Help:    "Messages handled by a room actor in one batch.",
			Buckets: powersOfTwo,
		}),

		StoreLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "troupe_store_latency_seconds",
			Help:    "Store call latency in seconds, by operation.",
			Buckets: prometheus.ExponentialBucketsRange(100e-6, 5, 16),
		}, []string{"op"}),

		PublishDeliverLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "troupe_publish_deliver_latency_seconds",
			Help:    "Seconds from receipt of a send to enqueue to member outboxes.",
			Buckets: prometheus.ExponentialBucketsRange(10e-6, 5, 16),
		}),

		ActorRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_actor_restarts_total",
			Help: "Actor restarts by their supervisor, by actor kind and failure reason.",
		}, []string{"kind", "reason"}),
		ActorCrashes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_actor_crashes_total",
			Help: "Actor panics, by actor kind and reason, restarted or not.",
		}, []string{"kind", "reason"}),
		RoomsStoppedByBudget: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_rooms_stopped_total",
			Help: "Rooms stopped after exhausting their restart budget.",
		}),

		HeartbeatTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_heartbeat_timeouts_total",
			Help: "Connections closed for missing heartbeats.",
		}),
		SlowConsumerCloses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_slow_consumer_closes_total",
			Help: "Connections closed because their outbox was full.",
		}),
		LimitRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_limit_rejections_total",
			Help: "Requests refused by a configured limit, by limit.",
		}, []string{"limit"}),
		OutboxDepth: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "troupe_outbox_depth",
			Help:    "Connection outbox length, sampled on enqueue.",
			Buckets: powersOfTwo,
		}),

		ErrorsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_errors_sent_total",
			Help: "Error frames sent to clients, by error code.",
		}, []string{"code"}),
		MailboxDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "troupe_mailbox_depth",
			Help: "Actor mailbox length, by actor kind.",
		}, []string{"kind"}),

		StoreRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_store_retries_total",
			Help: "Store operations retried after a transient failure.",
		}),
		DrillRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_drill_runs_total",
			Help: "Fault-injection drill runs, by drill kind and outcome.",
		}, []string{"kind", "outcome"}),
		DrillRecovery: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "troupe_drill_recovery_seconds",
			Help:    "Seconds from an injected fault to the recovery of what it hit, by drill kind.",
			Buckets: prometheus.ExponentialBucketsRange(100e-6, 30, 16),
		}, []string{"kind"}),

		ClusterMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_cluster_messages_total",
			Help: "Messages exchanged with other nodes over the bus, by direction and kind.",
		}, []string{"direction", "kind"}),
		ClusterBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_cluster_bytes_total",
			Help: "Payload bytes exchanged with other nodes over the bus, by direction and kind.",
		}, []string{"direction", "kind"}),
		ClusterConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "troupe_cluster_connected",
			Help: "1 while this node's bus (NATS) connection is up.",
		}),
		ClusterNodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "troupe_cluster_nodes",
			Help: "Live nodes in the lease table, this one included.",
		}),
		LeaseRenewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_lease_renewals_total",
			Help: "Lease renewals of this node, by outcome (ok, error, skipped).",
		}, []string{"outcome"}),
		LeaseLosses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_lease_losses_total",
			Help: "Times this node found its lease expired before renewing it.",
		}),
		RoomClaims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_room_claims_total",
			Help: "Room ownership claims, by outcome (won, owned).",
		}, []string{"outcome"}),
		FencedWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_fenced_writes_total",
			Help: "Appends refused because a newer owner claimed the room.",
		}),
		RelayBackfills: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "troupe_relay_backfills_total",
			Help: "Store reads of relay rooms that found a gap in the owner's feed.",
		}),
		RoomsRelayed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "troupe_rooms_relayed",
			Help: "Active rooms this node relays for an owner on another node.",
		}),
		Forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_forwarded_sends_total",
			Help: "Sends a relay forwarded to the room's owner, by outcome (acked, retried, failed).",
		}, []string{"outcome"}),
	}

	reg.MustRegister(
		m.ConnectionsActive, m.ConnectionsOpened, m.ConnectionsClosed, m.UpgradesRejected,
		m.FramesIn, m.FramesOut,
		m.Deliveries, m.Drops,
		m.RoomsActive, m.UsersActive, m.SessionsActive, m.SessionsOpened,
		m.HeartbeatRTT, m.BytesIn, m.BytesOut, m.DeflatedIn, m.DeflatedOut,
		m.MessagesStored, m.BatchSize,
		m.StoreLatency, m.PublishDeliverLatency,
		m.ActorRestarts, m.ActorCrashes, m.RoomsStoppedByBudget,
		m.HeartbeatTimeouts, m.SlowConsumerCloses, m.LimitRejections, m.OutboxDepth,
		m.ErrorsSent, m.MailboxDepth,
		m.StoreRetries, m.DrillRuns, m.DrillRecovery,
		m.ClusterMessages, m.ClusterBytes, m.ClusterConnected, m.ClusterNodes,
		m.LeaseRenewals, m.LeaseLosses, m.RoomClaims, m.FencedWrites,
		m.RelayBackfills, m.RoomsRelayed, m.Forwarded,
	)
	return m
}

// CloseCode counts one closed connection under its WebSocket close code.
// Codes a client can choose freely are folded so the label stays bounded: the
// registered codes 1000–1015 and the private range 4000–4999 are kept, any other
// code is counted as "other".
func (m *Metrics) CloseCode(code int) {
	m.ConnectionsClosed.WithLabelValues(closeCodeLabel(code)).Inc()
}

func closeCodeLabel(code int) string {
	if (code >= 1000 && code <= 1015) || (code >= 4000 && code <= 4999) {
		return strconv.Itoa(code)
	}
	return "other"
}
