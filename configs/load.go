package configs

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts the name of every environment variable Load reads.
const EnvPrefix = "TROUPE_"

// EnvVar returns the environment variable Load reads for the named flag:
// EnvPrefix followed by the name upper-cased with '-' replaced by '_'
// ("heartbeat-interval" → "TROUPE_HEARTBEAT_INTERVAL").
func EnvVar(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// NewFlagSet returns the flag set Load parses, with the defaults of Default, for
// usage and help output. name is the name shown in usage messages. Parsing with it
// does not load anything: use Load for that.
func NewFlagSet(name string) *flag.FlagSet {
	c := Default()
	return newFlagSet(name, &c, new(string))
}

// Load builds the configuration from four layers, each overriding the ones before:
//
//  1. the defaults of Default;
//  2. the YAML file named by --config (or by TROUPE_CONFIG when --config is not
//     given), whose keys are the flag names with '-' replaced by '_'; unknown keys
//     are an error, and so is a file that does not exist;
//  3. environment variables looked up through getenv, named by EnvVar
//     (TROUPE_HEARTBEAT_INTERVAL); an empty value counts as unset;
//  4. the flags explicitly set in args.
//
// args excludes the program and subcommand names; positional arguments are an
// error. getenv is usually os.Getenv; nil means no environment. Durations are
// written as time.ParseDuration strings ("25s") in every layer.
//
// Load returns the merged config when it is valid. Otherwise it returns every
// invalid environment value and every validation problem at once, joined with
// errors.Join. A flag parse error (including flag.ErrHelp for -h) or an unreadable
// config file is returned alone.
func Load(args []string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}

	// Parse the command line into a scratch config first, to learn --config and
	// which flags were set; they are applied last.
	cli := Default()
	var path string
	fs := newFlagSet("troupe", &cli, &path)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// Layer 1: defaults.
	c := Default()

	// Layer 2: config file.
	if !set["config"] {
		path = getenv(EnvVar("config"))
	}
	if path != "" {
		if err := loadFile(path, &c); err != nil {
			return Config{}, err
		}
	}

	// Layer 3: environment. dst writes through to c.
	var errs []error
	dst := newFlagSet("troupe", &c, new(string))
	dst.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" || set[f.Name] {
			return // the command line wins; its value needs no checking here
		}
		name := EnvVar(f.Name)
		v := getenv(name)
		if v == "" {
			return
		}
		prev := f.Value.String()
		if err := f.Value.Set(v); err != nil {
			// The flag package stores a zero on a failed parse; keep the lower layer's
			// value so validation does not report a second, misleading problem.
			_ = f.Value.Set(prev)
			errs = append(errs, fmt.Errorf("--%s: invalid value %q in %s: %v", f.Name, v, name, err))
		}
	})

	// Layer 4: flags set on the command line. Their values were parsed already and
	// round-trip exactly through String.
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		if err := dst.Set(f.Name, f.Value.String()); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %v", f.Name, err))
		}
	})

	errs = appendJoined(errs, c.Validate())
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// loadFile decodes the YAML file at path over c. Keys absent from the file leave
// c unchanged; an empty file changes nothing.
func loadFile(path string, c *Config) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	defer f.Close()

	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("--config %s: %w", path, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return fmt.Errorf("--config %s: more than one YAML document", path)
	case !errors.Is(err, io.EOF):
		return fmt.Errorf("--config %s: %w", path, err)
	}
	return nil
}

// newFlagSet defines every flag, bound to the fields of c with c's current values
// as defaults, and --config bound to configPath.
func newFlagSet(name string, c *Config, configPath *string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)

	fs.StringVar(configPath, "config", "", "`path` of a YAML config file; keys are flag names with '-' → '_' (env TROUPE_CONFIG)")

	fs.StringVar(&c.Addr, "addr", c.Addr, "`host:port` to listen on")
	fs.StringVar(&c.Store, "store", c.Store, "message store: memory:, sqlite://<path> or postgres://user:pass@host:5432/db")
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "`name` of this node, unique among the nodes sharing the store (default: the host name)")
	fs.StringVar(&c.ClusterListen, "cluster-listen", c.ClusterListen, "`host:port` of the embedded NATS route listener; setting it turns the cluster on (needs a postgres:// -store)")
	fs.Var(&c.ClusterPeers, "cluster-peers", "comma-separated `host:port` route addresses of the cluster's nodes, this one's may be among them (needs -cluster-listen)")
	fs.StringVar(&c.NATS, "nats", c.NATS, "comma-separated `URLs` (nats://host:4222,…) of an external NATS cluster, instead of -cluster-listen; turns the cluster on")
	fs.StringVar(&c.HistoryRetention, "history-retention", c.HistoryRetention, "bound of each room's stored history: an age (30d, 12h), a count (100000), both (30d,100000), or off")
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "bearer key of the server API under /api/; empty turns the API off")
	fs.StringVar(&c.JWTSecret, "jwt-secret", c.JWTSecret, "HMAC secret for client tokens (HS256)")
	fs.StringVar(&c.JWTPublicKeys, "jwt-public-keys", c.JWTPublicKeys, "`file` of RS256/ES256 token keys: JWKS or PEM public keys; reloaded on SIGHUP")
	fs.StringVar(&c.JWTAudience, "jwt-audience", c.JWTAudience, "required token aud (empty: not checked)")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", c.JWTIssuer, "required token iss (empty: not checked)")
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "`host:port` for Go's profiler (net/http/pprof); empty: off")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client (empty: none)")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", c.AllowedOrigins, "comma-separated browser origins allowed to connect, * wildcards a subdomain level (empty: any)")
	fs.BoolVar(&c.Anonymous, "anonymous", c.Anonymous, "allow clients to connect without a token")

	fs.DurationVar(&c.HeartbeatInterval, "heartbeat-interval", c.HeartbeatInterval, "interval between server pings")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close a connection silent this long (must exceed -heartbeat-interval)")
	fs.DurationVar(&c.SessionGrace, "session-grace", c.SessionGrace, "how long a session outlives its last connection, for resume")
	fs.DurationVar(&c.TokenLeeway, "token-leeway", c.TokenLeeway, "clock skew tolerated when checking token times")
	fs.DurationVar(&c.HelloTimeout, "hello-timeout", c.HelloTimeout, "time a new connection has to send hello")

	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")

	fs.Float64Var(&c.RateLimit, "rate-limit", c.RateLimit, "inbound frames per second per connection; 0 disables")
	fs.IntVar(&c.RateBurst, "rate-burst", c.RateBurst, "inbound frame burst per connection")
	fs.Float64Var(&c.SignalRate, "signal-rate", c.SignalRate, "signal and presence_set frames per second per connection, apart from -rate-limit; 0 disables")
	fs.IntVar(&c.SignalBurst, "signal-burst", c.SignalBurst, "signal and presence_set frame burst per connection")
	fs.IntVar(&c.SignalMaxBytes, "signal-max-bytes", c.SignalMaxBytes, "largest data of one signal, in bytes")
	fs.IntVar(&c.PresenceStateMaxBytes, "presence-state-max-bytes", c.PresenceStateMaxBytes, "largest presence state of one connection in a room, in bytes")
	fs.BoolVar(&c.Compression, "compression", c.Compression, "negotiate permessage-deflate with clients that offer it (no context takeover; broadcasts deflated once)")
	fs.IntVar(&c.CompressionMinBytes, "compression-min-bytes", c.CompressionMinBytes, "smallest frame sent compressed, in bytes")
	fs.IntVar(&c.OutboxSize, "outbox-size", c.OutboxSize, "outbound queue capacity per connection, in frames")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "time limit of one write to a connection")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "time limit to read an HTTP request's head (slow-loris guard)")
	fs.IntVar(&c.MaxFrameBytes, "max-frame-bytes", c.MaxFrameBytes, "largest inbound frame, in bytes")
	fs.IntVar(&c.MaxTextBytes, "max-text-bytes", c.MaxTextBytes, "largest message text, in bytes (at most -max-frame-bytes)")
	fs.IntVar(&c.MaxRoomsPerConn, "max-rooms-per-conn", c.MaxRoomsPerConn, "rooms one connection may join")
	fs.IntVar(&c.MaxMembers, "max-members", c.MaxMembers, "default member limit of a room")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "concurrent connections; 0 means no limit")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", c.MaxConnsPerIP, "concurrent connections per client IP; 0 means no limit")
	fs.IntVar(&c.MaxConnsPerUser, "max-conns-per-user", c.MaxConnsPerUser, "concurrent connections per user; 0 means no limit")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "time limit of graceful shutdown")

	fs.IntVar(&c.HeartbeatShards, "heartbeat-shards", c.HeartbeatShards, "heartbeat timer shards; 0 means 4 per CPU")

	fs.IntVar(&c.RoomRestarts, "room-restarts", c.RoomRestarts, "restarts of a failing room allowed per -room-restart-window before it is stopped")
	fs.DurationVar(&c.RoomRestartWindow, "room-restart-window", c.RoomRestartWindow, "window -room-restarts is counted over")
	fs.DurationVar(&c.RoomRestartBackoff, "room-restart-backoff", c.RoomRestartBackoff, "pause before the second restart of a failing actor in its window, doubling after (0: none)")
	fs.DurationVar(&c.RoomRestartBackoffMax, "room-restart-backoff-max", c.RoomRestartBackoffMax, "longest pause between restarts of a failing actor")
	fs.DurationVar(&c.RoomIdleTimeout, "room-idle-timeout", c.RoomIdleTimeout, "how long a room without members stays in memory")
	fs.DurationVar(&c.PresenceInterval, "presence-interval", c.PresenceInterval, "longest a room gathers presence changes into one presence_diff (0: as soon as its queue is handled)")
	fs.DurationVar(&c.PresenceIntervalMax, "presence-interval-max", c.PresenceIntervalMax, "longest the gathering grows to in big rooms: one more --presence-interval per 10 connections (at or below --presence-interval: no growth)")
	fs.Var((*List)(&c.NoPresenceRooms), "no-presence-rooms", "comma-separated glob `patterns` of room names whose presence is off (news:*, broadcast.*, * for every room): no member lists or presence_diff, presence refused; besides rooms the server API configures with \"presence\": false")
	fs.IntVar(&c.DrainBatch, "drain-batch", c.DrainBatch, "connections each heartbeat shard closes per drain round at shutdown (0: all at once)")
	fs.DurationVar(&c.DrainInterval, "drain-interval", c.DrainInterval, "pause between drain rounds at shutdown")

	fs.IntVar(&c.HistoryDefault, "history-default", c.HistoryDefault, "messages a history request returns when it does not say")
	fs.IntVar(&c.HistoryMax, "history-max", c.HistoryMax, "most messages one history request returns")
	fs.IntVar(&c.RecoveryLimit, "recovery-limit", c.RecoveryLimit, "most missed messages replayed on resume")
	fs.IntVar(&c.DedupWindow, "dedup-window", c.DedupWindow, "recent client message ids remembered per room for idempotent sends")

	fs.BoolVar(&c.RoomsRequireCreate, "rooms-require-create", c.RoomsRequireCreate, "rooms must be created through the server API before clients join")

	return fs
}
