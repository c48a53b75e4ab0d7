package configs

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/persistence/retention"
	"github.com/troupe-chat/troupe/persistence/storeurl"
	"github.com/troupe-chat/troupe/transport"
)

// Engine is the actor engine's part of Config, actors.Config, under a name
// that lets Config embed it beside the transport's part.
type Engine = actors.Config

// Transport is the transport's part of Config, transport.Config, under a
// name that lets Config embed it beside the engine's part.
type Transport = transport.Config

// Config is the complete server configuration: the engine's settings and the
// transport's, each declared, defaulted and validated by its own package and
// embedded here, and the settings only the server as a whole uses. The yaml
// tag of each field is its flag name with '-' replaced by '_'; the flag name
// is given in the field comment. The embedded parts are inlined, so their
// keys are top-level keys like the others.
type Config struct {
	// Engine holds the engine's settings (see actors.Config).
	Engine `yaml:",inline"`
	// Transport holds the transport's settings (see transport.Config).
	Transport `yaml:",inline"`

	// Store selects the persistence backend (--store): "memory:",
	// "sqlite://<path>" or "postgres://…" (see persistence/storeurl).
	Store string `yaml:"store"`
	// HistoryRetention bounds each room's stored history by age and/or
	// count, e.g. "30d", "100000" or "30d,100000"; "off" keeps everything
	// (--history-retention). Trimming never goes below the recovery limit's
	// latest messages (see persistence/retention).
	HistoryRetention string `yaml:"history_retention"`
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
	// PprofAddr, when set, serves Go's profiler (net/http/pprof) on its own
	// listener, e.g. 127.0.0.1:6060; keep it off public interfaces
	// (--pprof-addr).
	PprofAddr string `yaml:"pprof_addr"`

	// NodeID names this node in the cluster: its lease and the rooms it owns
	// in the store, its NATS subjects and server name (--node-id). It must be
	// unique among the nodes sharing the store, non-empty valid UTF-8
	// without NUL, at most MaxNodeIDBytes bytes. Default: the host name.
	NodeID string `yaml:"node_id"`
	// ClusterListen is the host:port of the embedded NATS server's route
	// listener, which the other nodes' --cluster-peers name
	// (--cluster-listen). Setting it turns the cluster on, with NATS
	// embedded in every node; "" with NATS "" is a single node.
	ClusterListen string `yaml:"cluster_listen"`
	// ClusterPeers are the route addresses (host:port) of the cluster's
	// nodes, this one's may be among them (--cluster-peers). A flag or an
	// environment variable takes them comma-separated; YAML takes a list or
	// the same comma-separated string. Needs ClusterListen.
	ClusterPeers List `yaml:"cluster_peers"`
	// NATS is a comma-separated list of URLs of an external NATS cluster
	// (nats://, tls://, ws:// or wss://) the node uses instead of an
	// embedded server (--nats). Setting it turns the cluster on; it excludes
	// ClusterListen.
	NATS string `yaml:"nats"`

	// LogLevel is one of debug, info, warn, error (--log-level).
	LogLevel string `yaml:"log_level"`
	// LogFormat is text or json (--log-format).
	LogFormat string `yaml:"log_format"`

	// ShutdownTimeout bounds graceful shutdown (--shutdown-timeout).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Default returns the built-in configuration, the lowest layer of Load: the
// engine's and the transport's defaults and the server's own.
func Default() Config {
	return Config{
		Engine:           actors.DefaultConfig(),
		Transport:        transport.DefaultConfig(),
		Store:            "sqlite://data/troupe.db",
		NodeID:           defaultNodeID(),
		HistoryRetention: "off",
		LogLevel:         "info",
		LogFormat:        "text",
		ShutdownTimeout:  30 * time.Second,
	}
}

// RedactedStore returns Store in a form safe to log or print: a PostgreSQL
// password is masked, and a URL that does not parse is not shown at all.
func (c Config) RedactedStore() string {
	u, err := storeurl.Parse(c.Store)
	if err != nil {
		return "(invalid store URL)"
	}
	return u.Redacted()
}

// LogLevels lists the accepted values of LogLevel.
var LogLevels = []string{"debug", "info", "warn", "error"}

// LogFormats lists the accepted values of LogFormat.
var LogFormats = []string{"text", "json"}

// Validate checks c and reports every problem at once, joined with errors.Join;
// each problem starts with the name of the offending flag. It returns nil when c
// is valid. The engine's and the transport's parts are checked by their own
// Validate; the rules that span them are checked here.
func (c Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	errs = appendJoined(errs, c.Transport.Validate())
	if _, err := storeurl.Parse(c.Store); err != nil {
		bad("store", "%v", err)
	}
	errs = append(errs, c.validateCluster()...)
	if _, err := retention.ParsePolicy(c.HistoryRetention); err != nil {
		bad("history-retention", "%v", err)
	}
	errs = appendJoined(errs, c.Engine.Validate())
	if c.ShutdownTimeout <= 0 {
		bad("shutdown-timeout", "must be > 0, got %v", c.ShutdownTimeout)
	}
	if !slices.Contains(LogLevels, c.LogLevel) {
		bad("log-level", "must be one of %s, got %q", strings.Join(LogLevels, ", "), c.LogLevel)
	}
	if !slices.Contains(LogFormats, c.LogFormat) {
		bad("log-format", "must be one of %s, got %q", strings.Join(LogFormats, ", "), c.LogFormat)
	}
	if c.MaxTextBytes > 0 && c.MaxFrameBytes > 0 && c.MaxTextBytes > c.MaxFrameBytes {
		bad("max-text-bytes", "must not exceed --max-frame-bytes (%d), got %d", c.MaxFrameBytes, c.MaxTextBytes)
	}
	return errors.Join(errs...)
}

// appendJoined appends to errs the problems of err: each one when err was
// built with errors.Join, err itself otherwise, nothing when it is nil.
func appendJoined(errs []error, err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return append(errs, j.Unwrap()...)
	}
	if err != nil {
		return append(errs, err)
	}
	return errs
}
