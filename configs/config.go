package configs

import (
	"errors"
	"fmt"
	"math"
	"net"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/troupe-chat/troupe/persistence/stores"
)

// Config is the complete server configuration. The yaml tag of each field is its
// flag name with '-' replaced by '_'; the flag name is given in the field comment.
type Config struct {
	// Addr is the host:port the HTTP/WebSocket listener binds (--addr).
	Addr string `yaml:"addr"`
	// Store selects the persistence backend (--store): "memory:" or
	// "sqlite://<path>" (see persistence/stores). postgres:// URLs are rejected:
	// that store is not built in yet.
	Store string `yaml:"store"`
	// APIKey is the bearer key server API callers present; "" turns the
	// server API off (every /api/ route answers 401) (--api-key).
	APIKey string `yaml:"api_key"`
	// JWTSecret is the HMAC secret client tokens are verified with; "" disables token
	// auth (--jwt-secret).
	JWTSecret string `yaml:"jwt_secret"`
	// JWTPublicKeys is a file of RS256/ES256 verification keys: a JWKS
	// document or PEM public keys, read again on SIGHUP (--jwt-public-keys).
	JWTPublicKeys string `yaml:"jwt_public_keys"`
	// JWTAudience, when set, must be in a token's aud (--jwt-audience).
	JWTAudience string `yaml:"jwt_audience"`
	// JWTIssuer, when set, must be a token's iss (--jwt-issuer).
	JWTIssuer string `yaml:"jwt_issuer"`
	// AllowedOrigins lists, comma-separated, the Origin values browsers may
	// open WebSockets from ("https://chat.example.com", "https://*.example.com");
	// others get 403 before the upgrade. Empty allows every origin; requests
	// without Origin (non-browser clients) are always allowed (--allowed-origins).
	AllowedOrigins string `yaml:"allowed_origins"`
	// TrustedProxies lists, comma-separated, the CIDRs of reverse proxies
	// (nginx) whose X-Forwarded-For is believed for the client address used
	// by per-IP limits and logs (--trusted-proxies).
	TrustedProxies string `yaml:"trusted_proxies"`
	// PprofAddr, when set, serves Go's profiler (net/http/pprof) on its own
	// listener, e.g. 127.0.0.1:6060; keep it off public interfaces
	// (--pprof-addr).
	PprofAddr string `yaml:"pprof_addr"`
	// MaxConnsPerUser bounds one user's concurrent connections; 0 means no
	// limit (--max-conns-per-user).
	MaxConnsPerUser int `yaml:"max_conns_per_user"`
	// Anonymous allows clients to connect without a token (--anonymous).
	Anonymous bool `yaml:"anonymous"`

	// HeartbeatInterval is how often the server pings each connection
	// (--heartbeat-interval).
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// IdleTimeout closes a connection from which nothing arrived for this long; it
	// must exceed HeartbeatInterval (--idle-timeout).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// SessionGrace is how long a session outlives its last connection so a client
	// can resume it (--session-grace).
	SessionGrace time.Duration `yaml:"session_grace"`
	// TokenLeeway is the clock skew tolerated when checking token times
	// (--token-leeway).
	TokenLeeway time.Duration `yaml:"token_leeway"`
	// HelloTimeout is how long a new connection may take to send its hello
	// (--hello-timeout).
	HelloTimeout time.Duration `yaml:"hello_timeout"`

	// LogLevel is one of debug, info, warn, error (--log-level).
	LogLevel string `yaml:"log_level"`
	// LogFormat is text or json (--log-format).
	LogFormat string `yaml:"log_format"`

	// RateLimit is the sustained inbound frame rate allowed per connection, in
	// frames per second; 0 disables rate limiting (--rate-limit).
	RateLimit float64 `yaml:"rate_limit"`
	// RateBurst is the inbound frame burst allowed per connection (--rate-burst).
	RateBurst int `yaml:"rate_burst"`
	// OutboxSize is the capacity, in frames, of each connection's outbound queue
	// (--outbox-size).
	OutboxSize int `yaml:"outbox_size"`
	// WriteTimeout bounds a single write to a connection (--write-timeout).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// ReadHeaderTimeout bounds reading an HTTP request's head, against
	// slow-loris clients (--read-header-timeout).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// MaxFrameBytes is the largest inbound frame accepted (--max-frame-bytes).
	MaxFrameBytes int `yaml:"max_frame_bytes"`
	// MaxTextBytes is the largest message text accepted; at most MaxFrameBytes
	// (--max-text-bytes).
	MaxTextBytes int `yaml:"max_text_bytes"`
	// MaxRoomsPerConn is how many rooms one connection may join (--max-rooms-per-conn).
	MaxRoomsPerConn int `yaml:"max_rooms_per_conn"`
	// MaxMembers is the default member limit of a room (--max-members).
	MaxMembers int `yaml:"max_members"`
	// MaxConns limits concurrent connections; 0 means no limit (--max-conns).
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerIP limits concurrent connections per client IP; 0 means no limit
	// (--max-conns-per-ip).
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// ShutdownTimeout bounds graceful shutdown (--shutdown-timeout).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	// HeartbeatShards is the number of heartbeat timer shards; 0 means
	// runtime.NumCPU()*4, see HeartbeatShardCount (--heartbeat-shards).
	HeartbeatShards int `yaml:"heartbeat_shards"`

	// RoomRestarts is how many times the rooms supervisor restarts a failing room
	// within RoomRestartWindow before stopping it (--room-restarts).
	RoomRestarts int `yaml:"room_restarts"`
	// RoomRestartWindow is the window RoomRestarts is counted over
	// (--room-restart-window).
	RoomRestartWindow time.Duration `yaml:"room_restart_window"`
	// RoomRestartBackoff is the pause before a failing actor's second restart
	// within the window, doubling for each further one (--room-restart-backoff);
	// the first restart is immediate.
	RoomRestartBackoff time.Duration `yaml:"room_restart_backoff"`
	// RoomRestartBackoffMax caps that pause (--room-restart-backoff-max).
	RoomRestartBackoffMax time.Duration `yaml:"room_restart_backoff_max"`
	// RoomIdleTimeout is how long a room with no members stays in memory
	// (--room-idle-timeout).
	RoomIdleTimeout time.Duration `yaml:"room_idle_timeout"`
	// PresenceInterval is the longest a room gathers presence changes into
	// one presence_diff; 0 pushes them as soon as the room's queue is
	// handled (--presence-interval).
	PresenceInterval time.Duration `yaml:"presence_interval"`
	// DrainBatch is how many connections each heartbeat shard closes per
	// drain round at shutdown; 0 closes all at once (--drain-batch).
	DrainBatch int `yaml:"drain_batch"`
	// DrainInterval is the pause between drain rounds (--drain-interval).
	DrainInterval time.Duration `yaml:"drain_interval"`

	// HistoryDefault is the number of messages returned by a history request that
	// does not say how many (--history-default).
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

	// RoomsRequireCreate requires rooms to be created through the server API before
	// clients can join them (--rooms-require-create).
	RoomsRequireCreate bool `yaml:"rooms_require_create"`
}

// Default returns the built-in configuration, the lowest layer of Load.
func Default() Config {
	return Config{
		Addr:      "127.0.0.1:8080",
		Store:     "sqlite://data/troupe.db",
		Anonymous: true,

		HeartbeatInterval: 25 * time.Second,
		IdleTimeout:       60 * time.Second,
		SessionGrace:      30 * time.Second,
		TokenLeeway:       5 * time.Second,
		HelloTimeout:      10 * time.Second,

		LogLevel:  "info",
		LogFormat: "text",

		RateLimit:         20,
		RateBurst:         40,
		OutboxSize:        1024,
		WriteTimeout:      10 * time.Second,
		ReadHeaderTimeout: 5 * time.Second,
		MaxFrameBytes:     65536,
		MaxTextBytes:      8192,
		MaxRoomsPerConn:   100,
		MaxMembers:        10000,
		ShutdownTimeout:   30 * time.Second,

		RoomRestarts:          5,
		RoomRestartWindow:     10 * time.Second,
		RoomRestartBackoff:    20 * time.Millisecond,
		RoomRestartBackoffMax: 2 * time.Second,
		RoomIdleTimeout:       30 * time.Second,
		PresenceInterval:      100 * time.Millisecond,
		DrainBatch:            500,
		DrainInterval:         100 * time.Millisecond,

		HistoryDefault: 50,
		HistoryMax:     200,
		RecoveryLimit:  1000,
		DedupWindow:    10000,
	}
}

// HeartbeatShardCount resolves HeartbeatShards: its value when positive,
// runtime.NumCPU()*4 otherwise.
func (c Config) HeartbeatShardCount() int {
	if c.HeartbeatShards > 0 {
		return c.HeartbeatShards
	}
	return runtime.NumCPU() * 4
}

// LogLevels lists the accepted values of LogLevel.
var LogLevels = []string{"debug", "info", "warn", "error"}

// LogFormats lists the accepted values of LogFormat.
var LogFormats = []string{"text", "json"}

// Validate checks c and reports every problem at once, joined with errors.Join;
// each problem starts with the name of the offending flag. It returns nil when c
// is valid.
func (c Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}

	if err := checkAddr(c.Addr); err != nil {
		bad("addr", "%v", err)
	}
	if err := checkStore(c.Store); err != nil {
		bad("store", "%v", err)
	}

	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"heartbeat-interval", c.HeartbeatInterval},
		{"idle-timeout", c.IdleTimeout},
		{"session-grace", c.SessionGrace},
		{"token-leeway", c.TokenLeeway},
		{"hello-timeout", c.HelloTimeout},
		{"write-timeout", c.WriteTimeout},
		{"read-header-timeout", c.ReadHeaderTimeout},
		{"shutdown-timeout", c.ShutdownTimeout},
		{"room-restart-window", c.RoomRestartWindow},
		{"room-restart-backoff-max", c.RoomRestartBackoffMax},
		{"room-idle-timeout", c.RoomIdleTimeout},
		{"drain-interval", c.DrainInterval},
	} {
		if d.v <= 0 {
			bad(d.flag, "must be > 0, got %v", d.v)
		}
	}
	if c.HeartbeatInterval > 0 && c.IdleTimeout > 0 && c.IdleTimeout <= c.HeartbeatInterval {
		bad("idle-timeout", "must exceed --heartbeat-interval (%v), got %v", c.HeartbeatInterval, c.IdleTimeout)
	}

	if !contains(LogLevels, c.LogLevel) {
		bad("log-level", "must be one of %s, got %q", strings.Join(LogLevels, ", "), c.LogLevel)
	}
	if !contains(LogFormats, c.LogFormat) {
		bad("log-format", "must be one of %s, got %q", strings.Join(LogFormats, ", "), c.LogFormat)
	}

	if math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) || c.RateLimit < 0 {
		bad("rate-limit", "must be a finite number >= 0, got %v", c.RateLimit)
	}

	for _, n := range []struct {
		flag string
		v    int
	}{
		{"rate-burst", c.RateBurst},
		{"outbox-size", c.OutboxSize},
		{"max-frame-bytes", c.MaxFrameBytes},
		{"max-text-bytes", c.MaxTextBytes},
		{"max-rooms-per-conn", c.MaxRoomsPerConn},
		{"max-members", c.MaxMembers},
		{"history-default", c.HistoryDefault},
		{"history-max", c.HistoryMax},
		{"recovery-limit", c.RecoveryLimit},
		{"dedup-window", c.DedupWindow},
	} {
		if n.v <= 0 {
			bad(n.flag, "must be > 0, got %d", n.v)
		}
	}
	for _, n := range []struct {
		flag string
		v    int
	}{
		{"max-conns", c.MaxConns},
		{"max-conns-per-ip", c.MaxConnsPerIP},
		{"max-conns-per-user", c.MaxConnsPerUser},
		{"heartbeat-shards", c.HeartbeatShards},
		{"room-restarts", c.RoomRestarts},
		{"drain-batch", c.DrainBatch},
	} {
		if n.v < 0 {
			bad(n.flag, "must be >= 0, got %d", n.v)
		}
	}
	if c.PresenceInterval < 0 {
		bad("presence-interval", "must be >= 0, got %v", c.PresenceInterval)
	}
	if c.RoomRestartBackoff < 0 {
		bad("room-restart-backoff", "must be >= 0, got %v", c.RoomRestartBackoff)
	}
	if c.HistoryDefault > 0 && c.HistoryMax > 0 && c.HistoryDefault > c.HistoryMax {
		bad("history-default", "must not exceed --history-max (%d), got %d", c.HistoryMax, c.HistoryDefault)
	}
	if c.MaxTextBytes > 0 && c.MaxFrameBytes > 0 && c.MaxTextBytes > c.MaxFrameBytes {
		bad("max-text-bytes", "must not exceed --max-frame-bytes (%d), got %d", c.MaxFrameBytes, c.MaxTextBytes)
	}

	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkAddr accepts "host:port" and ":port" with a numeric port in 0..65535.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, got %q: %v", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("want a numeric port 0-65535, got %q", addr)
	}
	return nil
}

// checkStore accepts exactly the store URLs stores.Open accepts (see
// Config.Store), so check-config and the server agree.
func checkStore(store string) error {
	return stores.ValidateURL(store)
}
