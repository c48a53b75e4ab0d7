package actors

import (
	"errors"
	"fmt"
	"math"
	"path"
	"runtime"
	"time"
)

// Config holds the engine's settings. The server configuration (package
// configs) embeds it, so the yaml tag of each field is its YAML key and, with
// '_' replaced by '-', its flag name, given in the field comment. Fields
// tagged yaml:"-" have no flag: they keep the value of DefaultConfig.
type Config struct {
	// Anonymous allows clients to connect without a token (--anonymous).
	Anonymous bool `yaml:"anonymous"`

	// HeartbeatInterval is how often the server pings each connection
	// (--heartbeat-interval).
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// IdleTimeout closes a connection from which nothing arrived for this
	// long; it must exceed HeartbeatInterval (--idle-timeout).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// SessionGrace is how long a session outlives its last connection so a
	// client can resume it (--session-grace).
	SessionGrace time.Duration `yaml:"session_grace"`
	// TokenLeeway is the clock skew tolerated when checking token times
	// (--token-leeway).
	TokenLeeway time.Duration `yaml:"token_leeway"`
	// HelloTimeout is how long a new connection may take to send its hello
	// (--hello-timeout).
	HelloTimeout time.Duration `yaml:"hello_timeout"`

	// RateLimit is the sustained inbound frame rate allowed per connection,
	// in frames per second; 0 disables rate limiting (--rate-limit).
	RateLimit float64 `yaml:"rate_limit"`
	// RateBurst is the inbound frame burst allowed per connection
	// (--rate-burst).
	RateBurst int `yaml:"rate_burst"`
	// SignalRate is the sustained rate of signal and presence_set frames
	// allowed per connection, in frames per second, counted apart from
	// RateLimit; 0 disables it (--signal-rate).
	SignalRate float64 `yaml:"signal_rate"`
	// SignalBurst is the signal frame burst allowed per connection
	// (--signal-burst).
	SignalBurst int `yaml:"signal_burst"`
	// SignalMaxBytes bounds the data of one signal, in bytes of compact
	// JSON (--signal-max-bytes).
	SignalMaxBytes int `yaml:"signal_max_bytes"`
	// PresenceStateMaxBytes bounds one connection's presence state in a
	// room, in bytes of compact JSON (--presence-state-max-bytes).
	PresenceStateMaxBytes int `yaml:"presence_state_max_bytes"`
	// MaxFrameBytes is the largest inbound frame accepted
	// (--max-frame-bytes).
	MaxFrameBytes int `yaml:"max_frame_bytes"`
	// MaxRoomsPerConn is how many rooms one connection may join
	// (--max-rooms-per-conn).
	MaxRoomsPerConn int `yaml:"max_rooms_per_conn"`
	// MaxMembers is the default member limit of a room (--max-members).
	MaxMembers int `yaml:"max_members"`
	// MaxConnsPerUser bounds one user's concurrent connections; 0 means no
	// limit (--max-conns-per-user).
	MaxConnsPerUser int `yaml:"max_conns_per_user"`

	// HeartbeatShards is the number of heartbeat timer shards; 0 means 4 per
	// CPU, see HeartbeatShardCount (--heartbeat-shards).
	HeartbeatShards int `yaml:"heartbeat_shards"`

	// RoomRestarts is how many times the rooms supervisor restarts a failing
	// room within RoomRestartWindow before stopping it (--room-restarts).
	RoomRestarts int `yaml:"room_restarts"`
	// RoomRestartWindow is the window RoomRestarts is counted over
	// (--room-restart-window).
	RoomRestartWindow time.Duration `yaml:"room_restart_window"`
	// RoomRestartBackoff is the pause before a failing actor's second restart
	// within its window, doubling for each further one up to
	// RoomRestartBackoffMax (--room-restart-backoff); the first restart is
	// immediate.
	RoomRestartBackoff time.Duration `yaml:"room_restart_backoff"`
	// RoomRestartBackoffMax caps that pause (--room-restart-backoff-max).
	RoomRestartBackoffMax time.Duration `yaml:"room_restart_backoff_max"`
	// RoomIdleTimeout is how long a room with no members stays in memory
	// (--room-idle-timeout).
	RoomIdleTimeout time.Duration `yaml:"room_idle_timeout"`
	// PresenceInterval is the longest a room gathers presence changes into
	// one presence_diff; 0 pushes them once the commands already queued are
	// handled (--presence-interval).
	PresenceInterval time.Duration `yaml:"presence_interval"`
	// PresenceIntervalMax is the longest the gathering of presence changes
	// grows to in a big room: PresenceInterval once more for every
	// PresenceGatherStep connections in the room, up to this; at or below
	// PresenceInterval the gathering never grows (--presence-interval-max).
	PresenceIntervalMax time.Duration `yaml:"presence_interval_max"`
	// NoPresenceRooms are glob patterns (path.Match: * ? [...]) of room
	// names whose presence is off, as if each room's stored config said so:
	// no member lists, no presence diffs, presence and presence_set refused
	// (--no-presence-rooms; "news:*" is every room of a namespace, "*"
	// every room).
	NoPresenceRooms []string `yaml:"no_presence_rooms"`
	// DrainBatch is how many connections each heartbeat shard closes per
	// drain round at shutdown; 0 closes all at once (--drain-batch).
	DrainBatch int `yaml:"drain_batch"`
	// DrainInterval is the pause between drain rounds (--drain-interval).
	DrainInterval time.Duration `yaml:"drain_interval"`

	// HistoryDefault is the number of messages returned by a history request
	// that does not say how many (--history-default).
	HistoryDefault int `yaml:"history_default"`
	// HistoryMax caps the number of messages one history request returns
	// (--history-max).
	HistoryMax int `yaml:"history_max"`
	// RecoveryLimit caps the number of missed messages replayed on resume
	// (--recovery-limit).
	RecoveryLimit int `yaml:"recovery_limit"`
	// DedupWindow is how many recent client ids per room are remembered for
	// idempotent sends (--dedup-window).
	DedupWindow int `yaml:"dedup_window"`

	// RoomsRequireCreate requires rooms to be created through the server API
	// before clients can join them (--rooms-require-create).
	RoomsRequireCreate bool `yaml:"rooms_require_create"`

	// StoreTimeout bounds one store call (no flag).
	StoreTimeout time.Duration `yaml:"-"`
	// MaxPendingPerRoom is how many unstored messages a room holds before it
	// answers sends with unavailable (no flag).
	MaxPendingPerRoom int `yaml:"-"`
}

// DefaultConfig returns the protocol's defaults, which are the server's.
func DefaultConfig() Config {
	return Config{
		Anonymous:             true,
		HeartbeatInterval:     25 * time.Second,
		IdleTimeout:           60 * time.Second,
		SessionGrace:          30 * time.Second,
		TokenLeeway:           5 * time.Second,
		HelloTimeout:          10 * time.Second,
		RateLimit:             20,
		RateBurst:             40,
		SignalRate:            60,
		SignalBurst:           120,
		SignalMaxBytes:        2048,
		PresenceStateMaxBytes: 1024,
		MaxFrameBytes:         65536,
		MaxRoomsPerConn:       100,
		MaxMembers:            10000,
		RoomRestarts:          5,
		RoomRestartWindow:     10 * time.Second,
		RoomRestartBackoff:    20 * time.Millisecond,
		RoomRestartBackoffMax: 2 * time.Second,
		RoomIdleTimeout:       30 * time.Second,
		PresenceInterval:      100 * time.Millisecond,
		PresenceIntervalMax:   time.Second,
		NoPresenceRooms:       []string{},
		DrainBatch:            500,
		DrainInterval:         100 * time.Millisecond,
		HistoryDefault:        50,
		HistoryMax:            200,
		RecoveryLimit:         1000,
		DedupWindow:           10000,
		StoreTimeout:          10 * time.Second,
		MaxPendingPerRoom:     10000,
	}
}

// HeartbeatShardCount resolves HeartbeatShards: its value when positive, 4
// per CPU otherwise.
func (c Config) HeartbeatShardCount() int {
	if c.HeartbeatShards > 0 {
		return c.HeartbeatShards
	}
	return 4 * runtime.NumCPU()
}

// Validate checks c and reports every problem at once, joined with
// errors.Join. Each problem starts with the name of its setting: the flag
// ("--idle-timeout: …"), or the field name for a setting without one. It
// returns nil when c is valid.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"--heartbeat-interval", c.HeartbeatInterval},
		{"--idle-timeout", c.IdleTimeout},
		{"--session-grace", c.SessionGrace},
		{"--token-leeway", c.TokenLeeway},
		{"--hello-timeout", c.HelloTimeout},
		{"--room-restart-window", c.RoomRestartWindow},
		{"--room-restart-backoff-max", c.RoomRestartBackoffMax},
		{"--room-idle-timeout", c.RoomIdleTimeout},
		{"--drain-interval", c.DrainInterval},
		{"StoreTimeout", c.StoreTimeout},
	} {
		if d.v <= 0 {
			bad(d.name, "must be > 0, got %v", d.v)
		}
	}
	if c.HeartbeatInterval > 0 && c.IdleTimeout > 0 && c.IdleTimeout <= c.HeartbeatInterval {
		bad("--idle-timeout", "must exceed --heartbeat-interval (%v), got %v", c.HeartbeatInterval, c.IdleTimeout)
	}
	if math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) || c.RateLimit < 0 {
		bad("--rate-limit", "must be a finite number >= 0, got %v", c.RateLimit)
	}
	if math.IsNaN(c.SignalRate) || math.IsInf(c.SignalRate, 0) || c.SignalRate < 0 {
		bad("--signal-rate", "must be a finite number >= 0, got %v", c.SignalRate)
	}
	for _, n := range []struct {
		name     string
		v, least int
	}{
		{"--rate-burst", c.RateBurst, 1},
		{"--signal-burst", c.SignalBurst, 1},
		{"--signal-max-bytes", c.SignalMaxBytes, 1},
		{"--presence-state-max-bytes", c.PresenceStateMaxBytes, 1},
		{"--max-frame-bytes", c.MaxFrameBytes, 1},
		{"--max-rooms-per-conn", c.MaxRoomsPerConn, 1},
		{"--max-members", c.MaxMembers, 1},
		{"--history-default", c.HistoryDefault, 1},
		{"--history-max", c.HistoryMax, 1},
		{"--recovery-limit", c.RecoveryLimit, 1},
		{"--dedup-window", c.DedupWindow, 1},
		{"MaxPendingPerRoom", c.MaxPendingPerRoom, 1},
		{"--max-conns-per-user", c.MaxConnsPerUser, 0},
		{"--heartbeat-shards", c.HeartbeatShards, 0},
		{"--room-restarts", c.RoomRestarts, 0},
		{"--drain-batch", c.DrainBatch, 0},
	} {
		if n.v < n.least {
			bad(n.name, "must be %s, got %d", atLeast(n.least), n.v)
		}
	}
	if c.PresenceInterval < 0 {
		bad("--presence-interval", "must be >= 0, got %v", c.PresenceInterval)
	}
	if c.PresenceIntervalMax < 0 {
		bad("--presence-interval-max", "must be >= 0, got %v", c.PresenceIntervalMax)
	}
	for _, p := range c.NoPresenceRooms {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			bad("--no-presence-rooms", "%q is not a glob pattern of room names", p)
		}
	}
	if c.RoomRestartBackoff < 0 {
		bad("--room-restart-backoff", "must be >= 0, got %v", c.RoomRestartBackoff)
	}
	if c.HistoryDefault > 0 && c.HistoryMax > 0 && c.HistoryDefault > c.HistoryMax {
		bad("--history-default", "must not exceed --history-max (%d), got %d", c.HistoryMax, c.HistoryDefault)
	}
	return errors.Join(errs...)
}

// NoPresenceFor reports whether room's name matches one of the
// NoPresenceRooms patterns.
func (c *Config) NoPresenceFor(room string) bool {
	for _, p := range c.NoPresenceRooms {
		if ok, err := path.Match(p, room); err == nil && ok {
			return true
		}
	}
	return false
}

// atLeast words the bound least of an integer setting as its problems say
// it: "> 0" for 1, ">= 0" for 0.
func atLeast(least int) string {
	if least == 1 {
		return "> 0"
	}
	return fmt.Sprintf(">= %d", least)
}

// Config returns the settings the engine runs with, for the transport,
// which enforces some of them (frame size, hello and idle deadlines) at the
// socket.
func (e *Engine) Config() Config { return e.env.cfg }
