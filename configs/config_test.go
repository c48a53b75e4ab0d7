package configs

import (
	"cmp"
	"errors"
	"flag"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/transport"
)

// envMap returns a getenv backed by m.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes content to a fresh file and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// problems returns the individual problems of an error built with errors.Join.
func problems(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	c, err := Load(nil, nil)
	if err != nil {
		t.Fatalf("Load(nil, nil) = %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Load with no input = %+v, want Default() %+v", c, Default())
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "troupe.yaml", `
addr: "0.0.0.0:9000"
heartbeat_interval: 20s
rate_limit: 5
log_level: debug
anonymous: false
max_members: 50
`)
	env := envMap(map[string]string{
		"TROUPE_HEARTBEAT_INTERVAL": "15s",
		"TROUPE_RATE_LIMIT":         "7.5",
		"TROUPE_LOG_LEVEL":          "warn",
		"TROUPE_ANONYMOUS":          "true",
		"TROUPE_OUTBOX_SIZE":        "64",
	})
	args := []string{
		"--config", file,
		"--rate-limit", "0",
		"--log-level=error",
		"--anonymous=false",
		"--idle-timeout", "2m",
	}
	c, err := Load(args, env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	want := Default()
	want.Addr = "0.0.0.0:9000"                // file only
	want.MaxMembers = 50                      // file only
	want.HeartbeatInterval = 15 * time.Second // file < env
	want.OutboxSize = 64                      // env only
	want.RateLimit = 0                        // file < env < flag
	want.LogLevel = "error"                   // file < env < flag
	want.Anonymous = false                    // file false < env true < flag false
	want.IdleTimeout = 2 * time.Minute        // flag only
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Load =\n%+v\nwant\n%+v", c, want)
	}
}

func TestEnvOverridesDefaultsWithoutFile(t *testing.T) {
	t.Parallel()
	c, err := Load([]string{"--history-max", "300"}, envMap(map[string]string{
		"TROUPE_HISTORY_MAX":          "100", // the flag wins
		"TROUPE_STORE":                "memory:",
		"TROUPE_ROOMS_REQUIRE_CREATE": "1",
		"TROUPE_MAX_CONNS_PER_IP":     "8",
		"TROUPE_API_KEY":              "k",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.HistoryMax != 300 || c.Store != "memory:" || !c.RoomsRequireCreate || c.MaxConnsPerIP != 8 || c.APIKey != "k" {
		t.Fatalf("Load = %+v", c)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "c.yaml", "log_format: json\n")
	c, err := Load(nil, envMap(map[string]string{"TROUPE_CONFIG": file}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.LogFormat != "json" {
		t.Fatalf("LogFormat = %q, want json from TROUPE_CONFIG file", c.LogFormat)
	}

	// --config beats TROUPE_CONFIG.
	other := writeFile(t, "d.yaml", "log_format: text\n")
	c, err = Load([]string{"--config", other}, envMap(map[string]string{"TROUPE_CONFIG": file}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.LogFormat != "text" {
		t.Fatalf("LogFormat = %q, want text from --config file", c.LogFormat)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	c := Default()
	c.HeartbeatInterval = 0
	c.LogFormat = "xml"
	c.MaxFrameBytes = -1
	err := c.Validate()
	ps := problems(err)
	if len(ps) != 3 {
		t.Fatalf("got %d problems, want 3:\n%v", len(ps), err)
	}
	for _, flag := range []string{"--heartbeat-interval", "--log-format", "--max-frame-bytes"} {
		if !strings.Contains(err.Error(), flag) {
			t.Errorf("error does not name %s:\n%v", flag, err)
		}
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "bad.yaml", "history_default: 500\n")
	_, err := Load(
		[]string{"--config", file, "--rate-limit", "-1", "--log-level", "loud"},
		envMap(map[string]string{
			"TROUPE_ADDR":       "nowhere",
			"TROUPE_RATE_BURST": "lots",
		}),
	)
	ps := problems(err)
	want := []string{"--rate-limit", "--log-level", "--addr", "--rate-burst", "--history-default"}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for _, flag := range want {
		if !strings.Contains(err.Error(), flag) {
			t.Errorf("error does not name %s:\n%v", flag, err)
		}
	}
	if !strings.Contains(err.Error(), "TROUPE_RATE_BURST") {
		t.Errorf("error does not name the environment variable:\n%v", err)
	}
}

func TestValidateRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*Config)
		flag string // "" means valid
	}{
		{"idle equals heartbeat", func(c *Config) { c.IdleTimeout = c.HeartbeatInterval }, "--idle-timeout"},
		{"idle below heartbeat", func(c *Config) { c.IdleTimeout = time.Second }, "--idle-timeout"},
		{"negative session grace", func(c *Config) { c.SessionGrace = -time.Second }, "--session-grace"},
		{"zero token leeway", func(c *Config) { c.TokenLeeway = 0 }, "--token-leeway"},
		{"zero hello timeout", func(c *Config) { c.HelloTimeout = 0 }, "--hello-timeout"},
		{"zero write timeout", func(c *Config) { c.WriteTimeout = 0 }, "--write-timeout"},
		{"zero shutdown timeout", func(c *Config) { c.ShutdownTimeout = 0 }, "--shutdown-timeout"},
		{"zero restart window", func(c *Config) { c.RoomRestartWindow = 0 }, "--room-restart-window"},
		{"rate limit zero disables", func(c *Config) { c.RateLimit = 0 }, ""},
		{"negative rate limit", func(c *Config) { c.RateLimit = -0.5 }, "--rate-limit"},
		{"zero burst", func(c *Config) { c.RateBurst = 0 }, "--rate-burst"},
		{"signal rate zero disables", func(c *Config) { c.SignalRate = 0 }, ""},
		{"negative signal rate", func(c *Config) { c.SignalRate = -1 }, "--signal-rate"},
		{"infinite signal rate", func(c *Config) { c.SignalRate = math.Inf(1) }, "--signal-rate"},
		{"zero signal burst", func(c *Config) { c.SignalBurst = 0 }, "--signal-burst"},
		{"zero signal bytes", func(c *Config) { c.SignalMaxBytes = 0 }, "--signal-max-bytes"},
		{"zero presence state bytes", func(c *Config) { c.PresenceStateMaxBytes = 0 }, "--presence-state-max-bytes"},
		{"no presence rooms", func(c *Config) { c.NoPresenceRooms = []string{"news:*", "broadcast.*", "*"} }, ""},
		{"no presence bad pattern", func(c *Config) { c.NoPresenceRooms = []string{"news:[*"} }, "--no-presence-rooms"},
		{"zero outbox", func(c *Config) { c.OutboxSize = 0 }, "--outbox-size"},
		{"zero rooms per conn", func(c *Config) { c.MaxRoomsPerConn = 0 }, "--max-rooms-per-conn"},
		{"zero max members", func(c *Config) { c.MaxMembers = 0 }, "--max-members"},
		{"zero recovery limit", func(c *Config) { c.RecoveryLimit = 0 }, "--recovery-limit"},
		{"zero dedup window", func(c *Config) { c.DedupWindow = 0 }, "--dedup-window"},
		{"zero history max", func(c *Config) { c.HistoryMax = 0 }, "--history-max"},
		{"negative max conns", func(c *Config) { c.MaxConns = -1 }, "--max-conns"},
		{"negative max conns per ip", func(c *Config) { c.MaxConnsPerIP = -1 }, "--max-conns-per-ip"},
		{"negative shards", func(c *Config) { c.HeartbeatShards = -1 }, "--heartbeat-shards"},
		{"negative restarts", func(c *Config) { c.RoomRestarts = -1 }, "--room-restarts"},
		{"zero restarts", func(c *Config) { c.RoomRestarts = 0 }, ""},
		{"text above frame", func(c *Config) { c.MaxTextBytes = c.MaxFrameBytes + 1 }, "--max-text-bytes"},
		{"text equals frame", func(c *Config) { c.MaxTextBytes = c.MaxFrameBytes }, ""},
		{"history default above max", func(c *Config) { c.HistoryDefault = c.HistoryMax + 1 }, "--history-default"},
		{"history default equals max", func(c *Config) { c.HistoryDefault = c.HistoryMax }, ""},
		{"log level upper case", func(c *Config) { c.LogLevel = "INFO" }, "--log-level"},
		{"all log levels", func(c *Config) { c.LogLevel = "warn" }, ""},
		{"addr any interface", func(c *Config) { c.Addr = ":8080" }, ""},
		{"addr ipv6", func(c *Config) { c.Addr = "[::1]:8080" }, ""},
		{"addr no port", func(c *Config) { c.Addr = "localhost" }, "--addr"},
		{"addr named port", func(c *Config) { c.Addr = "localhost:http" }, "--addr"},
		{"addr port too big", func(c *Config) { c.Addr = "localhost:70000" }, "--addr"},
		{"addr empty", func(c *Config) { c.Addr = "" }, "--addr"},
		{"store memory", func(c *Config) { c.Store = "memory:" }, ""},
		{"store sqlite absolute", func(c *Config) { c.Store = "sqlite:///var/lib/troupe.db" }, ""},
		{"store sqlite no path", func(c *Config) { c.Store = "sqlite://" }, "--store"},
		{"store sqlite relative", func(c *Config) { c.Store = "sqlite://data/troupe.db" }, ""},
		{"store sqlite directory", func(c *Config) { c.Store = "sqlite://data/" }, "--store"},
		{"store sqlite query", func(c *Config) { c.Store = "sqlite://x.db?mode=ro" }, "--store"},
		{"store postgres", func(c *Config) { c.Store = "postgres://u:p@db:5432/troupe?sslmode=disable" }, ""},
		{"store postgresql", func(c *Config) { c.Store = "postgresql://db/troupe" }, ""},
		{"store postgres no database", func(c *Config) { c.Store = "postgres://u:p@db:5432" }, "--store"},
		{"store postgres no host", func(c *Config) { c.Store = "postgres:///troupe" }, "--store"},
		{"store malformed postgres", func(c *Config) { c.Store = "postgres://u:p@db:port/x" }, "--store"},
		{"store unknown scheme", func(c *Config) { c.Store = "mysql://db/troupe" }, "--store"},
		{"store empty", func(c *Config) { c.Store = "" }, "--store"},
		{"store memory with path", func(c *Config) { c.Store = "memory:x" }, "--store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tt.edit(&c)
			err := c.Validate()
			if tt.flag == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if len(problems(err)) != 1 || !strings.HasPrefix(err.Error(), tt.flag+":") {
				t.Fatalf("Validate = %v, want one problem naming %s", err, tt.flag)
			}
		})
	}
}

// TestStorePostgresAccepted checks that PostgreSQL URLs are valid config
// and that printing the store hides their password.
func TestStorePostgresAccepted(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Store = "postgres://user:s3cret@db/troupe"
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate = %v, want nil", err)
	}
	if got := c.RedactedStore(); strings.Contains(got, "s3cret") || !strings.Contains(got, "db/troupe") {
		t.Errorf("RedactedStore = %q, want the URL without its password", got)
	}
	if got := Default().RedactedStore(); got != "sqlite://data/troupe.db" {
		t.Errorf("Default().RedactedStore = %q, want sqlite://data/troupe.db", got)
	}
}

// TestLinksNoStoreDriver checks that validating --store does not link in a
// store or its driver: configs depends on persistence/storeurl only.
func TestLinksNoStoreDriver(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"sqlite", "pgx", "persistence/stores"} {
			if strings.Contains(dep, bad) {
				t.Errorf("configs depends on %s", dep)
			}
		}
	}
}

func TestStoreErrorHidesPassword(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Store = "postgres://user:s3cret@db:port/x"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Validate = %v, want an error without the password", err)
	}
	c.Store = "mysql://user:s3cret@db/x"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Validate = %v, want an error without the password", err)
	}
}

func TestUnknownYAMLKeyRejected(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "typo.yaml", "addr: \":8080\"\nheartbeat_intervall: 10s\n")
	_, err := Load([]string{"--config", file}, nil)
	if err == nil || !strings.Contains(err.Error(), "heartbeat_intervall") {
		t.Fatalf("Load = %v, want an error naming the unknown key", err)
	}
	// Flag spellings are not YAML keys.
	file = writeFile(t, "dash.yaml", "heartbeat-interval: 10s\n")
	if _, err := Load([]string{"--config", file}, nil); err == nil {
		t.Fatal("Load accepted the key heartbeat-interval, want heartbeat_interval only")
	}
}

func TestDurations(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "d.yaml", `
heartbeat_interval: 1m30s
idle_timeout: "3m"
session_grace: 500ms
write_timeout: 1h
`)
	c, err := Load(
		[]string{"--config", file, "--hello-timeout", "2s"},
		envMap(map[string]string{"TROUPE_TOKEN_LEEWAY": "250ms", "TROUPE_WRITE_TIMEOUT": "45s"}),
	)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, d := range []struct {
		name      string
		got, want time.Duration
	}{
		{"heartbeat_interval", c.HeartbeatInterval, 90 * time.Second},
		{"idle_timeout", c.IdleTimeout, 3 * time.Minute},
		{"session_grace", c.SessionGrace, 500 * time.Millisecond},
		{"write_timeout", c.WriteTimeout, 45 * time.Second},
		{"token_leeway", c.TokenLeeway, 250 * time.Millisecond},
		{"hello_timeout", c.HelloTimeout, 2 * time.Second},
		{"shutdown_timeout", c.ShutdownTimeout, 30 * time.Second},
	} {
		if d.got != d.want {
			t.Errorf("%s = %v, want %v", d.name, d.got, d.want)
		}
	}
}

func TestBadDurations(t *testing.T) {
	t.Parallel()
	// A bare number is not a duration in any layer.
	file := writeFile(t, "n.yaml", "heartbeat_interval: 25\n")
	if _, err := Load([]string{"--config", file}, nil); err == nil {
		t.Error("YAML heartbeat_interval: 25 accepted, want an error")
	}
	if _, err := Load(nil, envMap(map[string]string{"TROUPE_IDLE_TIMEOUT": "60"})); err == nil ||
		!strings.Contains(err.Error(), "TROUPE_IDLE_TIMEOUT") {
		t.Errorf("TROUPE_IDLE_TIMEOUT=60: err = %v, want an error naming the variable", err)
	}
	if _, err := Load([]string{"--session-grace", "30"}, nil); err == nil {
		t.Error("--session-grace 30 accepted, want an error")
	}
}

func TestMissingConfigFile(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load([]string{"--config", missing}, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load = %v, want fs.ErrNotExist", err)
	}
	_, err = Load(nil, envMap(map[string]string{"TROUPE_CONFIG": missing}))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load with TROUPE_CONFIG = %v, want fs.ErrNotExist", err)
	}
}

func TestFileEdgeCases(t *testing.T) {
	t.Parallel()
	empty := writeFile(t, "empty.yaml", "# nothing here\n")
	if c, err := Load([]string{"--config", empty}, nil); err != nil || !reflect.DeepEqual(c, Default()) {
		t.Errorf("empty file: Load = %+v, %v; want defaults", c, err)
	}
	multi := writeFile(t, "multi.yaml", "addr: \":1\"\n---\naddr: \":2\"\n")
	if _, err := Load([]string{"--config", multi}, nil); err == nil {
		t.Error("two YAML documents accepted, want an error")
	}
	list := writeFile(t, "list.yaml", "- addr\n")
	if _, err := Load([]string{"--config", list}, nil); err == nil {
		t.Error("top-level list accepted, want an error")
	}
	typed := writeFile(t, "typed.yaml", "max_members: many\n")
	if _, err := Load([]string{"--config", typed}, nil); err == nil {
		t.Error("max_members: many accepted, want an error")
	}
}

func TestArgs(t *testing.T) {
	t.Parallel()
	if _, err := Load([]string{"-h"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("Load(-h) = %v, want flag.ErrHelp", err)
	}
	if _, err := Load([]string{"--no-such-flag"}, nil); err == nil {
		t.Error("unknown flag accepted")
	}
	if _, err := Load([]string{"--version"}, nil); err == nil {
		t.Error("--version accepted, want no such flag")
	}
	if _, err := Load([]string{"extra"}, nil); err == nil {
		t.Error("positional argument accepted")
	}
}

// TestNamesAgree checks that every flag has a YAML key of the same name and the
// same default, so the three layers stay in step. The keys of the embedded
// engine and transport parts are inlined; fields tagged "-" have no key.
func TestNamesAgree(t *testing.T) {
	t.Parallel()
	keys := map[string]bool{}
	var collect func(typ reflect.Type)
	collect = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			switch tag := f.Tag.Get("yaml"); {
			case tag == ",inline":
				collect(f.Type)
			case tag == "-":
			case tag == "":
				t.Errorf("field %s.%s has no yaml tag", typ, f.Name)
			case keys[tag]:
				t.Errorf("YAML key %s is declared twice", tag)
			default:
				keys[tag] = true
			}
		}
	}
	collect(reflect.TypeOf(Config{}))
	fset := NewFlagSet("troupe")
	n := 0
	fset.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		n++
		key := strings.ReplaceAll(f.Name, "-", "_")
		if !keys[key] {
			t.Errorf("flag --%s has no YAML key %s", f.Name, key)
		}
	})
	if n != len(keys) {
		t.Errorf("%d flags, %d YAML keys", n, len(keys))
	}
	if got := EnvVar("heartbeat-interval"); got != "TROUPE_HEARTBEAT_INTERVAL" {
		t.Errorf("EnvVar = %q", got)
	}
}

// TestPartsOwnDefaults checks that Config is composed of the engine's and the
// transport's own defaults, so each is declared once.
func TestPartsOwnDefaults(t *testing.T) {
	t.Parallel()
	c := Default()
	if !reflect.DeepEqual(c.Engine, actors.DefaultConfig()) {
		t.Errorf("Default().Engine = %+v, want actors.DefaultConfig() %+v", c.Engine, actors.DefaultConfig())
	}
	if !reflect.DeepEqual(c.Transport, transport.DefaultConfig()) {
		t.Errorf("Default().Transport = %+v, want transport.DefaultConfig() %+v", c.Transport, transport.DefaultConfig())
	}
	if err := actors.DefaultConfig().Validate(); err != nil {
		t.Errorf("actors.DefaultConfig().Validate() = %v", err)
	}
	if err := transport.DefaultConfig().Validate(); err != nil {
		t.Errorf("transport.DefaultConfig().Validate() = %v", err)
	}
}

// TestYAMLFilesInTree loads and validates every *.yaml file under this directory.
func TestYAMLFilesInTree(t *testing.T) {
	t.Parallel()
	var n int
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return nil
		}
		n++
		t.Run(path, func(t *testing.T) {
			c, err := Load([]string{"--config", path}, nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no *.yaml files found")
	}
}

// TestExampleDocumentsEveryKey checks that troupe.yaml sets every key to its default.
func TestExampleDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("troupe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	NewFlagSet("troupe").VisitAll(func(f *flag.Flag) {
		if key := strings.ReplaceAll(f.Name, "-", "_"); f.Name != "config" {
			if _, ok := m[key]; !ok {
				t.Errorf("troupe.yaml does not document %s", key)
			}
		}
	})
	c, err := Load([]string{"--config", "troupe.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("troupe.yaml values differ from Default():\n%+v\n%+v", c, Default())
	}
}

func TestHeartbeatShardCount(t *testing.T) {
	t.Parallel()
	c := Default()
	if got, want := c.HeartbeatShardCount(), runtime.NumCPU()*4; got != want {
		t.Errorf("HeartbeatShardCount() = %d, want %d", got, want)
	}
	c.HeartbeatShards = 3
	if got := c.HeartbeatShardCount(); got != 3 {
		t.Errorf("HeartbeatShardCount() = %d, want 3", got)
	}
}

// TestHistoryRetentionFlag checks that --history-retention takes the
// policy forms and names itself when it is wrong.
func TestHistoryRetentionFlag(t *testing.T) {
	for _, v := range []string{"off", "30d", "100000", "30d,100000", "12h"} {
		c, err := Load([]string{"--history-retention", v}, func(string) string { return "" })
		if err != nil || c.HistoryRetention != v {
			t.Errorf("--history-retention %s: %+v, %v", v, c.HistoryRetention, err)
		}
	}
	for _, v := range []string{"-5", "30x", "0d"} {
		if _, err := Load([]string{"--history-retention", v}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "--history-retention") {
			t.Errorf("--history-retention %s: %v, want an error naming the flag", v, err)
		}
	}
}

// clusterBase returns the defaults with a PostgreSQL store, the store a
// cluster needs, so a cluster rule's problem is the only one.
func clusterBase() Config {
	c := Default()
	c.Store = "postgres://troupe:pw@db:5432/troupe"
	return c
}

func TestClusterDefaults(t *testing.T) {
	t.Parallel()
	c := Default()
	want := "troupe"
	if h, err := os.Hostname(); err == nil && h != "" {
		want = h
	}
	if c.NodeID != want {
		t.Errorf("Default().NodeID = %q, want the host name %q", c.NodeID, want)
	}
	if c.ClusterEnabled() || c.ClusterListen != "" || c.ClusterPeers != nil || c.NATS != "" {
		t.Errorf("Default() has the cluster on: %+v", c)
	}
	if c.Peers() != nil || c.NATSURLs() != nil {
		t.Errorf("Default(): Peers %q, NATSURLs %q; want nil", c.Peers(), c.NATSURLs())
	}
}

func TestClusterRules(t *testing.T) {
	t.Parallel()
	const storeMsg = "--store: the cluster needs a shared PostgreSQL store: --store postgres://…; sqlite and memory stores hold one node's data"
	tests := []struct {
		name    string
		edit    func(*Config)
		flag    string // "" means valid
		cluster bool   // ClusterEnabled, when valid
	}{
		{"single node", func(*Config) {}, "", false},
		{"embedded", func(c *Config) { c.ClusterListen = "0.0.0.0:7422" }, "", true},
		{"embedded with peers", func(c *Config) {
			c.ClusterListen = "10.0.0.1:7422"
			c.ClusterPeers = List{"10.0.0.1:7422", "n2:7422", "[fd00::3]:7422"}
		}, "", true},
		{"listen free port", func(c *Config) { c.ClusterListen = "127.0.0.1:0" }, "", true},
		{"peers blank entries", func(c *Config) { c.ClusterListen = "n1:7422"; c.ClusterPeers = List{" ", ""} }, "", true},
		{"external nats", func(c *Config) { c.NATS = "nats://a:4222, tls://b:4443,ws://c/,wss://u:p@d" }, "", true},
		{"postgresql scheme", func(c *Config) { c.ClusterListen = "n1:7422"; c.Store = "postgresql://db/troupe" }, "", true},

		{"listen and nats", func(c *Config) { c.ClusterListen = "n1:7422"; c.NATS = "nats://a:4222" }, "--cluster-listen", false},
		{"peers without listen", func(c *Config) { c.ClusterPeers = List{"n1:7422"} }, "--cluster-peers", false},
		{"peers with nats only", func(c *Config) { c.NATS = "nats://a:4222"; c.ClusterPeers = List{"n1:7422"} }, "--cluster-peers", false},
		{"listen with sqlite", func(c *Config) { c.ClusterListen = "n1:7422"; c.Store = "sqlite://data/troupe.db" }, "--store", false},
		{"nats with memory", func(c *Config) { c.NATS = "nats://a:4222"; c.Store = "memory:" }, "--store", false},

		{"listen no port", func(c *Config) { c.ClusterListen = "n1" }, "--cluster-listen", false},
		{"listen no host", func(c *Config) { c.ClusterListen = ":7422" }, "--cluster-listen", false},
		{"listen named port", func(c *Config) { c.ClusterListen = "n1:routes" }, "--cluster-listen", false},
		{"listen port too big", func(c *Config) { c.ClusterListen = "n1:65536" }, "--cluster-listen", false},
		{"listen signed port", func(c *Config) { c.ClusterListen = "n1:+7422" }, "--cluster-listen", false},
		{"peer no port", func(c *Config) { c.ClusterListen = "n1:7422"; c.ClusterPeers = List{"n2"} }, "--cluster-peers", false},
		{"peer port zero", func(c *Config) { c.ClusterListen = "n1:7422"; c.ClusterPeers = List{"n2:0"} }, "--cluster-peers", false},
		{"peer port too big", func(c *Config) { c.ClusterListen = "n1:7422"; c.ClusterPeers = List{"n2:70000"} }, "--cluster-peers", false},
		{"peer no host", func(c *Config) { c.ClusterListen = "n1:7422"; c.ClusterPeers = List{":7422"} }, "--cluster-peers", false},
		{"peer url", func(c *Config) { c.ClusterListen = "n1:7422"; c.ClusterPeers = List{"nats-route://n2:7422"} }, "--cluster-peers", false},

		{"nats http", func(c *Config) { c.NATS = "http://a:4222" }, "--nats", false},
		{"nats no scheme", func(c *Config) { c.NATS = "localhost:4222" }, "--nats", false},
		{"nats no host", func(c *Config) { c.NATS = "nats://:4222" }, "--nats", false},
		{"nats bad port", func(c *Config) { c.NATS = "nats://a:port" }, "--nats", false},
		{"nats port zero", func(c *Config) { c.NATS = "nats://a:0" }, "--nats", false},
		{"nats only commas", func(c *Config) { c.NATS = " , ," }, "--nats", false},

		{"node id empty", func(c *Config) { c.NodeID = "" }, "--node-id", false},
		{"node id NUL", func(c *Config) { c.NodeID = "n\x001" }, "--node-id", false},
		{"node id bad UTF-8", func(c *Config) { c.NodeID = "n\xff" }, "--node-id", false},
		{"node id space", func(c *Config) { c.NodeID = "node 1" }, "--node-id", false},
		{"node id too long", func(c *Config) { c.NodeID = strings.Repeat("n", MaxNodeIDBytes+1) }, "--node-id", false},
		{"node id longest", func(c *Config) { c.NodeID = strings.Repeat("n", MaxNodeIDBytes) }, "", false},
		{"node id unicode", func(c *Config) { c.NodeID = "nœud-1.eu" }, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := clusterBase()
			tt.edit(&c)
			err := c.Validate()
			if tt.flag == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				if got := c.ClusterEnabled(); got != tt.cluster {
					t.Fatalf("ClusterEnabled = %v, want %v", got, tt.cluster)
				}
				return
			}
			if len(problems(err)) != 1 || !strings.HasPrefix(err.Error(), tt.flag+":") {
				t.Fatalf("Validate = %v, want one problem naming %s", err, tt.flag)
			}
			if tt.flag == "--store" && !strings.HasPrefix(err.Error(), storeMsg) {
				t.Fatalf("Validate = %v, want %q", err, storeMsg)
			}
		})
	}
}

// TestClusterReportsEveryProblem checks that the cluster rules report all
// their problems at once, beside the others.
func TestClusterReportsEveryProblem(t *testing.T) {
	t.Parallel()
	c := Default() // sqlite
	c.NodeID = ""
	c.ClusterListen = "nowhere"
	c.ClusterPeers = List{"n2:7422", "n3"}
	c.NATS = "http://a:4222"
	c.LogLevel = "loud"
	err := c.Validate()
	want := []string{
		"--node-id: must not be empty",
		`--cluster-listen: want host:port, got "nowhere"`,
		"--cluster-listen: cannot be combined with --nats",
		`--cluster-peers: want host:port, got "n3"`,
		`--nats: "http://a:4222": scheme must be one of nats, tls, ws, wss`,
		"--store: the cluster needs a shared PostgreSQL store",
		"--log-level",
	}
	ps := problems(err)
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for _, w := range want {
		found := false
		for _, p := range ps {
			found = found || strings.HasPrefix(p.Error(), w)
		}
		if !found {
			t.Errorf("no problem starts with %q:\n%v", w, err)
		}
	}
}

func TestNATSErrorHidesPassword(t *testing.T) {
	t.Parallel()
	for _, nats := range []string{"nats://u:s3cret@h:port", "http://u:s3cret@h:4222", "nats://u:s3cret@:4222", "nats://u:s3cret@h:0"} {
		c := clusterBase()
		c.NATS = nats
		if err := c.Validate(); err == nil || strings.Contains(err.Error(), "s3cret") || !strings.HasPrefix(err.Error(), "--nats:") {
			t.Errorf("--nats %s: Validate = %v, want a --nats error without the password", nats, err)
		}
	}
}

func TestPeersAndNATSURLs(t *testing.T) {
	t.Parallel()
	c := Default()
	c.ClusterPeers = List{" n1:7422 ", "", "n2:7422,n3:7422", ","}
	c.NATS = " nats://a:4222,, tls://b:4443 ,"
	if got, want := c.Peers(), []string{"n1:7422", "n2:7422", "n3:7422"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Peers = %q, want %q", got, want)
	}
	if got, want := c.NATSURLs(), []string{"nats://a:4222", "tls://b:4443"}; !reflect.DeepEqual(got, want) {
		t.Errorf("NATSURLs = %q, want %q", got, want)
	}
	var l List
	if err := l.Set(" a:1 ,b:2,, "); err != nil || !reflect.DeepEqual(l, List{"a:1", "b:2"}) || l.String() != "a:1,b:2" {
		t.Errorf("Set: %q, %v; String %q", l, err, l.String())
	}
	if err := l.Set(""); err != nil || l != nil {
		t.Errorf("Set(\"\") = %q, %v; want nil", l, err)
	}
}

// TestClusterLayers checks the cluster settings in every layer: the peers
// as a YAML list or a comma-separated string, in the environment and as a
// flag, each layer replacing the list of the one below.
func TestClusterLayers(t *testing.T) {
	t.Parallel()
	const store = "store: postgres://troupe@db/troupe\n"
	list := writeFile(t, "list.yaml", store+"node_id: n1\ncluster_listen: 0.0.0.0:7422\ncluster_peers:\n  - n1:7422\n  - \" n2:7422 \"\n")
	str := writeFile(t, "str.yaml", store+"cluster_listen: 0.0.0.0:7422\ncluster_peers: \"n1:7422, n2:7422,n3:7422\"\n")
	ext := writeFile(t, "nats.yaml", store+"nats: nats://a:4222,nats://b:4222\n")
	for _, tt := range []struct {
		name  string
		args  []string
		env   map[string]string
		node  string
		peers []string
		nats  []string
	}{
		{"yaml list", []string{"--config", list}, nil, "n1", []string{"n1:7422", "n2:7422"}, nil},
		{"yaml string", []string{"--config", str}, nil, "", []string{"n1:7422", "n2:7422", "n3:7422"}, nil},
		{"env over file", []string{"--config", list}, map[string]string{"TROUPE_CLUSTER_PEERS": "e1:7422,e2:7422", "TROUPE_NODE_ID": "e1"}, "e1", []string{"e1:7422", "e2:7422"}, nil},
		{"flag over env", []string{"--config", list, "--cluster-peers", "f1:7422", "--node-id=f1"}, map[string]string{"TROUPE_CLUSTER_PEERS": "e1:7422"}, "f1", []string{"f1:7422"}, nil},
		{"flag empties the list", []string{"--config", list, "--cluster-peers="}, nil, "n1", nil, nil},
		{"env only", nil, map[string]string{
			"TROUPE_STORE": "postgres://troupe@db/troupe", "TROUPE_CLUSTER_LISTEN": "127.0.0.1:7422", "TROUPE_CLUSTER_PEERS": "127.0.0.1:7422,127.0.0.1:7423",
		}, "", []string{"127.0.0.1:7422", "127.0.0.1:7423"}, nil},
		{"external nats", []string{"--config", ext}, nil, "", nil, []string{"nats://a:4222", "nats://b:4222"}},
		{"external nats env", []string{"--store", "postgres://db/troupe"}, map[string]string{"TROUPE_NATS": "tls://n:4443"}, "", nil, []string{"tls://n:4443"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(tt.args, envMap(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if node := cmp.Or(tt.node, Default().NodeID); c.NodeID != node {
				t.Errorf("NodeID = %q, want %q", c.NodeID, node)
			}
			if !reflect.DeepEqual(c.Peers(), tt.peers) || !reflect.DeepEqual([]string(c.ClusterPeers), tt.peers) {
				t.Errorf("ClusterPeers %q, Peers() %q; want %q", c.ClusterPeers, c.Peers(), tt.peers)
			}
			if !reflect.DeepEqual(c.NATSURLs(), tt.nats) {
				t.Errorf("NATSURLs = %q, want %q", c.NATSURLs(), tt.nats)
			}
			if !c.ClusterEnabled() {
				t.Error("ClusterEnabled = false")
			}
		})
	}

	bad := writeFile(t, "bad.yaml", store+"cluster_listen: n1:7422\ncluster_peers: {n1: 7422}\n")
	if _, err := Load([]string{"--config", bad}, nil); err == nil {
		t.Error("cluster_peers as a mapping accepted, want an error")
	}
	// The environment's peers are checked like the others, and named.
	_, err := Load([]string{"--store", "postgres://db/troupe"}, envMap(map[string]string{"TROUPE_CLUSTER_PEERS": "n1"}))
	if ps := problems(err); len(ps) != 2 || !strings.Contains(err.Error(), "--cluster-peers: needs --cluster-listen") || !strings.Contains(err.Error(), `--cluster-peers: want host:port, got "n1"`) {
		t.Errorf("TROUPE_CLUSTER_PEERS=n1 alone: %v", err)
	}
}
