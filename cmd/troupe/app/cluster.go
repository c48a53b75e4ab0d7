package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/configs"
	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/leases"
	"github.com/troupe-chat/troupe/transport/bus"
	"github.com/troupe-chat/troupe/transport/cluster"
)

// leaseTTL is how long a node's lease lasts without renewal: a killed node's
// rooms can be claimed this long after its last renewal.
const leaseTTL = 3 * time.Second

// clusterNode is this process's membership in a cluster: the embedded NATS
// server (or none, with --nats), the bus connection, the node lease and the
// adapter the engine talks to.
type clusterNode struct {
	embedded *bus.Embedded // nil with --nats
	conn     *bus.Conn
	keeper   *leases.Keeper
	adapter  *cluster.Adapter
	// engine is set once the engine runs; the lease keeper tells it which
	// nodes are alive.
	engine atomic.Pointer[actors.Engine]
}

// startCluster joins the cluster cfg describes.
func startCluster(ctx context.Context, cfg configs.Config, store persistence.Store, m *metrics.Metrics, log *slog.Logger) (_ *clusterNode, err error) {
	c := &clusterNode{}
	defer func() {
		if err != nil {
			c.close(context.Background(), false)
		}
	}()
	urls := cfg.NATSURLs()
	if len(urls) == 0 {
		host, port, err := net.SplitHostPort(cfg.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("app: --cluster-listen: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("app: --cluster-listen port: %w", err)
		}
		var routes []string
		for _, peer := range cfg.Peers() {
			routes = append(routes, "nats-route://"+peer)
		}
		c.embedded, err = bus.StartEmbedded(bus.EmbeddedOptions{
			Name: cfg.NodeID, ClusterHost: host, ClusterPort: p, Routes: routes,
			Logger: log.With("component", "nats"),
		})
		if err != nil {
			return nil, fmt.Errorf("app: start the embedded NATS server: %w", err)
		}
		urls = []string{c.embedded.ClientURL()}
	}
	c.conn, err = bus.Connect(bus.ConnOptions{
		URLs: urls, Name: cfg.NodeID, RetryOnFailedConnect: true, Logger: log.With("component", "bus"),
		OnConnect:    func(string) { m.ClusterConnected.Set(1) },
		OnDisconnect: func(error) { m.ClusterConnected.Set(0) },
	})
	if err != nil {
		return nil, fmt.Errorf("app: connect to NATS: %w", err)
	}
	c.keeper, err = leases.Start(ctx, leases.Options{
		Store: store, Node: cfg.NodeID, TTL: leaseTTL, Healthy: c.conn.IsConnected,
		OnChange: func(live []string) {
			if e := c.engine.Load(); e != nil {
				e.SetLiveNodes(live)
			}
		},
		Metrics: m, Logger: log.With("component", "leases"),
	})
	if err != nil {
		return nil, fmt.Errorf("app: node lease: %w", err)
	}
	c.adapter, err = cluster.New(cluster.Options{Conn: c.conn, Node: cfg.NodeID, Live: c.keeper.Live, Held: c.keeper.Held, Metrics: m, Logger: log.With("component", "cluster")})
	if err != nil {
		return nil, fmt.Errorf("app: cluster adapter: %w", err)
	}
	log.Info("cluster joined", "node", cfg.NodeID, "listen", cfg.ClusterListen, "peers", cfg.Peers(), "nats", len(cfg.NATSURLs()) > 0)
	return c, nil
}

// liveNodes returns what lists the cluster's live nodes (the lease keeper's
// view), or nil when this node is not in a cluster (c is nil).
func (c *clusterNode) liveNodes() func() []string {
	if c == nil {
		return nil
	}
	return c.keeper.Live
}

// close leaves the cluster: with release, the node's lease goes at once so
// other nodes may claim its rooms without waiting for it to expire.
func (c *clusterNode) close(ctx context.Context, release bool) error {
	var errs []error
	if c.keeper != nil {
		if err := c.keeper.Stop(ctx, release); err != nil {
			errs = append(errs, err)
		}
	}
	if c.adapter != nil {
		c.adapter.Close()
	}
	if c.conn != nil {
		c.conn.Close()
	}
	if c.embedded != nil {
		c.embedded.Shutdown()
	}
	return errors.Join(errs...)
}
