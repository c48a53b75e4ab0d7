package troupe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Subprotocol is the WebSocket subprotocol the client offers.
const Subprotocol = "troupe.v1"

// Defaults of Options.
const (
	DefaultRequestTimeout  = 10 * time.Second
	DefaultMaxFrameBytes   = 64 << 20
	DefaultMaxQueuedEvents = 65536
)

// Default backoffs: between reconnect attempts, and between retries of a
// request the server answered with unavailable or rate_limited.
const (
	DefaultReconnectMin = 500 * time.Millisecond
	DefaultReconnectMax = 20 * time.Second
	DefaultRetryMin     = 50 * time.Millisecond
	DefaultRetryMax     = time.Second
)

// Options configure a Client. URL is required; every other zero field means
// its default.
type Options struct {
	// URL of the server: http(s):// or ws(s)://host[:port][/base]. The client
	// connects to <base>/ws unless the path already ends in /ws.
	URL string
	// Token is the JWT sent in hello; empty connects anonymously.
	Token string
	// Name is the display name sent in hello (a token's name wins).
	Name string
	// Session resumes an earlier session on the first connection; later
	// connections always name the session the server last gave.
	Session string

	// OnEvent receives every event, one at a time and in order, on a
	// goroutine of the client. It may call the client's methods. Nil discards
	// events.
	OnEvent func(Event)
	// OnRawPush, when set, is offered every pushed frame (one without an id:
	// message, batch, presence_diff, typing, an error without id, …) on the
	// read loop before the client decodes it; frame is valid only during the
	// call. Returning true consumes the frame: the client does not decode it
	// and changes nothing for it, so no event is delivered and a room's
	// position does not move past a consumed message (a rejoin after a
	// reconnect replays it). Replies to requests never reach the hook. The
	// client tells a push from its start as troupe servers write it,
	// {"type":"…" first and a reply's "id" right after; a frame in any other
	// form is not offered. The hook must not block or wait for the client's
	// replies. Meant for load tools and taps that count frames without paying
	// for decoding; most applications leave it nil.
	OnRawPush func(frame []byte) (consumed bool)
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger

	// RequestTimeout bounds each request's wait for its reply (and the
	// WebSocket handshake plus hello). Default 10s.
	RequestTimeout time.Duration
	// Reconnect is the backoff between reconnect attempts. Default 500ms
	// to 20s.
	Reconnect Backoff
	// Retry is the backoff between retries after unavailable or
	// rate_limited. Default 50ms to 1s.
	Retry Backoff
	// RejoinHistory is the history a rejoin asks for when recovery is
	// impossible (0: the server's default).
	RejoinHistory int

	// DialContext opens the TCP connection; default a net.Dialer's. Set it to
	// pick a local address or to wrap the connection.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is used for wss:// and https:// URLs.
	TLSConfig *tls.Config
	// Header holds extra headers of the upgrade request.
	Header http.Header

	// Compression offers permessage-deflate (RFC 7692) in the upgrade: a
	// server that takes it sends its larger frames deflated, and the client
	// deflates its own sends of compressMinBytes and more. Off by default.
	Compression bool

	// MaxFrameBytes is the largest frame the client reads. Default 64 MiB.
	MaxFrameBytes int
	// MaxQueuedEvents bounds the events waiting for OnEvent; when a push
	// would exceed it the client drops the connection and recovers the
	// missed messages after reconnecting (ephemeral events are lost).
	// Default 65536.
	MaxQueuedEvents int
}

// withDefaults fills zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.URL == "" {
		errs = append(errs, errors.New("URL is required"))
	}
	if o.RequestTimeout < 0 || o.MaxFrameBytes < 0 || o.MaxQueuedEvents < 0 || o.RejoinHistory < 0 {
		errs = append(errs, errors.New("RequestTimeout, MaxFrameBytes, MaxQueuedEvents and RejoinHistory must not be negative"))
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.Reconnect == (Backoff{}) {
		o.Reconnect = Backoff{Min: DefaultReconnectMin, Max: DefaultReconnectMax}
	}
	if o.Retry == (Backoff{}) {
		o.Retry = Backoff{Min: DefaultRetryMin, Max: DefaultRetryMax}
	}
	for _, b := range []Backoff{o.Reconnect, o.Retry} {
		if b.Min < 0 || b.Max < b.Min {
			errs = append(errs, fmt.Errorf("backoff %v: needs 0 <= Min <= Max", b))
		}
	}
	if o.MaxFrameBytes == 0 {
		o.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if o.MaxQueuedEvents == 0 {
		o.MaxQueuedEvents = DefaultMaxQueuedEvents
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DialContext == nil {
		o.DialContext = (&net.Dialer{}).DialContext
	}
	if o.URL != "" {
		if _, err := wsURL(o.URL); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("troupe: options: %w", err)
	}
	return o, nil
}

// wsURL turns the configured base URL into the WebSocket endpoint's URL.
func wsURL(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("URL %q: scheme must be http, https, ws or wss", base)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %q has no host", base)
	}
	if !strings.HasSuffix(u.Path, "/ws") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	}
	u.RawPath = ""
	return u, nil
}

// hostPort returns u's host with the scheme's default port when it has none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "wss" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// compressMinBytes is the smallest send the client deflates when
// compression was negotiated, as troupe servers' --compression-min-bytes
// default.
const compressMinBytes = 256
