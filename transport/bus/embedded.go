package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultClusterName is the cluster name an [Embedded] server uses when
// [EmbeddedOptions.ClusterName] is empty. Servers route to each other only if
// their cluster names match.
const DefaultClusterName = "troupe"

// EmbeddedOptions configures an in-process nats-server. The zero value is a
// single node listening on free loopback ports, cluster-ready, logging nothing.
type EmbeddedOptions struct {
	// Name is this server's name in the cluster, normally the troupe node id.
	// It must be unique among the cluster's servers; empty lets nats-server
	// use its generated server id.
	Name string

	// Host is the interface the server listens on for clients (troupe's own
	// [Conn] and anything else that connects). Empty means 127.0.0.1.
	Host string
	// Port is the client port; 0 picks a free port, see [Embedded.ClientURL].
	Port int

	// NoCluster disables the route listener: the server is a single node that
	// routes to no peer. Routes must then be empty.
	NoCluster bool
	// ClusterName names the cluster; empty means [DefaultClusterName].
	ClusterName string
	// ClusterHost is the interface the server listens on for routes from the
	// other nodes' servers. Empty means 127.0.0.1, which only reaches servers
	// on this machine: a real multi-host cluster sets it (and usually
	// ClusterAdvertise).
	ClusterHost string
	// ClusterPort is the route port; 0 picks a free port, see
	// [Embedded.RouteURL].
	ClusterPort int
	// ClusterAdvertise is the host:port other servers and gossip should use to
	// reach this server's route listener, when it differs from the listening
	// address (0.0.0.0, NAT, containers). Empty advertises the listener.
	ClusterAdvertise string
	// Routes are the peers' route URLs, "nats-route://host:port" (troupe's
	// --cluster-peers). A route to a peer that is not up yet is retried until
	// it is; a route to this server itself is recognised and dropped. Peers
	// learn of each other through the routes (gossip), so each node routing to
	// one seed makes a full mesh.
	Routes []string

	// StartTimeout bounds how long [StartEmbedded] waits for the listeners;
	// 0 means 10 s.
	StartTimeout time.Duration

	// Logger receives the server's log lines (see [LevelTrace] for the levels
	// used). Nil discards them. The server's debug and trace lines are produced
	// only when Logger is enabled at Debug or [LevelTrace] respectively.
	Logger *slog.Logger
}

// Embedded is a nats-server running inside this process. Its methods are safe
// for concurrent use.
type Embedded struct {
	srv     *server.Server
	clientU string
	routeU  string
	logger  *serverLogger
}

// StartEmbedded starts a nats-server with opts (no JetStream, no monitoring
// port, no signal handlers) and returns once it accepts clients and, when
// clustered, routes. It does not wait for routes to the peers: see
// [Embedded.Peers].
func StartEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	sopts, err := serverOptions(opts)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sl := newServerLogger(log.With("component", "nats-server"))

	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("bus: new embedded nats-server: %w", err)
	}
	ctx := context.Background()
	srv.SetLoggerV2(sl, log.Enabled(ctx, slog.LevelDebug), log.Enabled(ctx, LevelTrace), false)
	srv.Start()

	e := &Embedded{srv: srv, logger: sl}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if err := e.waitReady(timeout); err != nil {
		e.Shutdown()
		return nil, err
	}

	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		e.Shutdown()
		return nil, errors.New("bus: embedded nats-server has no client listener")
	}
	e.clientU = (&url.URL{Scheme: "nats", Host: dialable(addr)}).String()
	if !opts.NoCluster {
		ca := srv.ClusterAddr()
		if ca == nil {
			e.Shutdown()
			return nil, errors.New("bus: embedded nats-server has no route listener")
		}
		host := dialable(ca)
		if opts.ClusterAdvertise != "" {
			host = opts.ClusterAdvertise
		}
		e.routeU = (&url.URL{Scheme: "nats-route", Host: host}).String()
	}
	return e, nil
}

// waitReady waits until the server accepts connections, a fatal log line says
// it never will, or timeout passes.
func (e *Embedded) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		// ReadyForConnections polls the listeners itself; a short slice lets a
		// fatal line (a port in use) end the wait at once.
		if e.srv.ReadyForConnections(25 * time.Millisecond) {
			return nil
		}
		if err := e.logger.fatalErr(); err != nil {
			return fmt.Errorf("bus: start embedded nats-server: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bus: embedded nats-server not ready after %s", timeout)
		}
	}
}

// serverOptions translates opts to nats-server's options, validating them.
func serverOptions(opts EmbeddedOptions) (*server.Options, error) {
	s := &server.Options{
		ServerName: opts.Name,
		Host:       orDefault(opts.Host, "127.0.0.1"),
		Port:       freePort(opts.Port),
		NoSigs:     true,
		JetStream:  false,
		// No HTTP monitoring, no leaf nodes, no gateways: zero values.
	}
	if opts.NoCluster {
		if len(opts.Routes) > 0 {
			return nil, errors.New("bus: embedded nats-server: routes given with NoCluster")
		}
		return s, nil
	}
	s.Cluster = server.ClusterOpts{
		Name:      orDefault(opts.ClusterName, DefaultClusterName),
		Host:      orDefault(opts.ClusterHost, "127.0.0.1"),
		Port:      freePort(opts.ClusterPort),
		Advertise: opts.ClusterAdvertise,
	}
	for _, r := range opts.Routes {
		u, err := ParseRouteURL(r)
		if err != nil {
			return nil, err
		}
		s.Routes = append(s.Routes, u)
	}
	return s, nil
}

// ParseRouteURL parses a peer's route URL, "nats-route://host:port", as
// [EmbeddedOptions.Routes] takes it.
func ParseRouteURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("bus: route URL %q: %w", s, err)
	}
	if u.Scheme != "nats-route" {
		return nil, fmt.Errorf("bus: route URL %q: scheme must be nats-route", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return nil, fmt.Errorf("bus: route URL %q: want nats-route://host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return nil, fmt.Errorf("bus: route URL %q: bad port", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("bus: route URL %q: want nats-route://host:port", s)
	}
	return u, nil
}

// ClientURL is the URL clients use to connect to this server, "nats://host:port"
// (a loopback address when the server listens on every interface).
func (e *Embedded) ClientURL() string { return e.clientU }

// RouteURL is the URL peers put in their [EmbeddedOptions.Routes] to route to
// this server, "nats-route://host:port" (the advertised address if
// [EmbeddedOptions.ClusterAdvertise] is set); empty with NoCluster.
func (e *Embedded) RouteURL() string { return e.routeU }

// Name is the server's name in the cluster.
func (e *Embedded) Name() string { return e.srv.Name() }

// Peers reports how many other servers this one has a route to. nats-server
// may keep several connections to each peer (a route pool); they count once.
// Routes come up asynchronously after [StartEmbedded], so readiness checks and
// tests wait for the expected count.
func (e *Embedded) Peers() int {
	rz, err := e.srv.Routez(nil)
	if err != nil {
		return 0
	}
	ids := make(map[string]struct{}, len(rz.Routes))
	for _, r := range rz.Routes {
		ids[r.RemoteID] = struct{}{}
	}
	return len(ids)
}

// HasInterest reports whether this server knows of a subscriber to subject,
// on a client of its own or behind a route. Interest from other servers
// arrives asynchronously after their clients subscribe; until it does, what is
// published here on subject is dropped.
func (e *Embedded) HasInterest(subject string) bool {
	return e.srv.GlobalAccount().SubscriptionInterest(subject)
}

// Shutdown stops the server: it closes its clients and routes and returns
// once the server's goroutines have stopped. It is idempotent.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// dialable returns addr as host:port, with a loopback host in place of an
// unspecified one (0.0.0.0, ::), which cannot be dialled.
func dialable(addr *net.TCPAddr) string {
	ip := addr.IP
	switch {
	case ip == nil || ip.IsUnspecified() && ip.To4() != nil:
		ip = net.IPv4(127, 0, 0, 1)
	case ip.IsUnspecified():
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(addr.Port))
}

// freePort maps troupe's "0 means a free port" to nats-server's -1 (its 0
// means the default port).
func freePort(p int) int {
	if p == 0 {
		return server.RANDOM_PORT
	}
	return p
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
