package transport

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Config holds the transport's settings. The server configuration (package
// configs) embeds it, so the yaml tag of each field is its YAML key and, with
// '_' replaced by '-', its flag name, given in the field comment. Fields
// tagged yaml:"-" have no flag: they keep the value of DefaultConfig.
//
// The protocol settings the transport enforces at the socket but the engine
// owns (frame size, hello and idle deadlines, history cap) are not here: New
// reads them from the engine (actors.Engine.Config).
type Config struct {
	// Addr is the host:port the HTTP/WebSocket listener binds (--addr).
	Addr string `yaml:"addr"`
	// AllowedOrigins lists, comma-separated, the Origin values browsers may
	// open WebSockets from ("https://chat.example.com",
	// "https://*.example.com"); others get 403 before the upgrade. Empty
	// allows every origin; requests without Origin (non-browser clients) are
	// always allowed (--allowed-origins).
	AllowedOrigins string `yaml:"allowed_origins"`
	// TrustedProxies lists, comma-separated, the CIDRs or addresses of
	// reverse proxies (nginx) whose X-Forwarded-For is believed for the
	// client address used by per-IP limits and logs; empty trusts none
	// (--trusted-proxies).
	TrustedProxies string `yaml:"trusted_proxies"`

	// OutboxSize is the capacity, in frames, of each connection's outbound
	// queue (--outbox-size).
	OutboxSize int `yaml:"outbox_size"`
	// WriteTimeout bounds a single write to a connection (--write-timeout).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// ReadHeaderTimeout bounds reading an HTTP request's head, against
	// slow-loris clients (--read-header-timeout).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// MaxTextBytes is the largest message text accepted; at most the
	// engine's MaxFrameBytes (--max-text-bytes).
	MaxTextBytes int `yaml:"max_text_bytes"`
	// MaxConns limits concurrent connections; 0 means no limit
	// (--max-conns).
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerIP limits concurrent connections per client IP; 0 means no
	// limit (--max-conns-per-ip).
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`

	// Compression negotiates permessage-deflate (RFC 7692) with clients that
	// offer it, without context takeover, so a broadcast is deflated once for
	// every member that negotiated it (--compression).
	Compression bool `yaml:"compression"`
	// CompressionMinBytes is the smallest frame sent compressed; smaller
	// ones go out as they are (--compression-min-bytes).
	CompressionMinBytes int `yaml:"compression_min_bytes"`

	// CloseLinger is how long to wait for a client's close frame (no flag).
	CloseLinger time.Duration `yaml:"-"`
}

// DefaultConfig returns the transport's defaults, which are the server's.
func DefaultConfig() Config {
	return Config{
		Addr:                "127.0.0.1:8080",
		OutboxSize:          1024,
		WriteTimeout:        10 * time.Second,
		ReadHeaderTimeout:   5 * time.Second,
		MaxTextBytes:        8192,
		Compression:         true,
		CompressionMinBytes: 256,
		CloseLinger:         2 * time.Second,
	}
}

// Validate checks c and reports every problem at once, joined with
// errors.Join. Each problem starts with the name of its setting: the flag
// ("--addr: …"), or the field name for a setting without one. It returns nil
// when c is valid. AllowedOrigins and TrustedProxies are parsed, and
// checked, by New.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if c.CompressionMinBytes < 0 {
		bad("--compression-min-bytes", "must be >= 0, got %d", c.CompressionMinBytes)
	}
	if err := checkAddr(c.Addr); err != nil {
		bad("--addr", "%v", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"--write-timeout", c.WriteTimeout},
		{"--read-header-timeout", c.ReadHeaderTimeout},
		{"CloseLinger", c.CloseLinger},
	} {
		if d.v <= 0 {
			bad(d.name, "must be > 0, got %v", d.v)
		}
	}
	if c.OutboxSize <= 0 {
		bad("--outbox-size", "must be > 0, got %d", c.OutboxSize)
	}
	if c.MaxTextBytes <= 0 {
		bad("--max-text-bytes", "must be > 0, got %d", c.MaxTextBytes)
	}
	if c.MaxConns < 0 {
		bad("--max-conns", "must be >= 0, got %d", c.MaxConns)
	}
	if c.MaxConnsPerIP < 0 {
		bad("--max-conns-per-ip", "must be >= 0, got %d", c.MaxConnsPerIP)
	}
	return errors.Join(errs...)
}

// checkAddr accepts "host:port" and ":port" with a numeric port in 0..65535.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, got %q: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("want a numeric port 0-65535, got %q", addr)
	}
	return nil
}
