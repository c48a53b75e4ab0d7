// Package leases keeps this node's lease in the store's lease table alive
// and watches which nodes of the cluster are live.
//
// A node is live while its lease is: the store judges expiry by its own
// clock (see persistence.LeaseStore). A Keeper renews the lease every
// Interval for TTL and reads the table after each round, so the other nodes
// see this one within Interval of its start and lose it within TTL of its
// last renewal (at once after a graceful Stop with release). A node whose
// bus is down stops renewing (Options.Healthy), so its rooms pass to nodes
// that can still be reached.
package leases

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/persistence"
)

// DefaultTTL is the lease TTL when Options.TTL is zero.
const DefaultTTL = 3 * time.Second

// Options configures a Keeper. Store, Node and Metrics are required.
type Options struct {
	// Store holds the lease table, shared by every node of the cluster.
	Store persistence.LeaseStore
	// Node names this node (persistence.CheckNode must accept it).
	Node string
	// TTL is how long a renewal keeps the lease alive; 0 means DefaultTTL.
	TTL time.Duration
	// Interval is the time between renewals; 0 means TTL/3. It must be
	// shorter than TTL.
	Interval time.Duration
	// Healthy, if not nil, is asked before each renewal: while it reports
	// false the keeper does not renew (LeaseRenewals{outcome="skipped"}),
	// so the lease expires and other nodes may claim this node's rooms. It
	// is called on the keeper's goroutine and must not block. Nil means
	// always healthy.
	Healthy func() bool
	// OnChange, if not nil, is called on the keeper's goroutine with the
	// sorted live nodes once after the first round that read the lease
	// table, then each time a round finds them changed. It must not block
	// for long (it delays the next renewal) and must not call Stop.
	OnChange func(live []string)
	// Metrics receives LeaseRenewals, LeaseLosses and ClusterNodes.
	Metrics *metrics.Metrics
	// Logger receives renewal failures and lease losses; nil discards them.
	Logger *slog.Logger
	// Clock tells the local time (Held, losses, the renewal ticker); nil
	// means the real clock. The store keeps its own.
	Clock clockwork.Clock
}

// Keeper renews one node's lease and tracks the live nodes. Its methods are
// safe for concurrent use.
type Keeper struct {
	store    persistence.LeaseStore
	node     string
	ttl      time.Duration
	interval time.Duration
	healthy  func() bool
	onChange func([]string)
	m        *metrics.Metrics
	log      *slog.Logger
	clock    clockwork.Clock

	cancel context.CancelFunc
	done   chan struct{} // closed when the loop has returned

	mu        sync.Mutex
	live      []string  // guarded by mu: the nodes the last read of the table found, sorted
	okAt      time.Time // guarded by mu: when the last successful renewal was sent; zero if none or the last failed
	doneAt    time.Time // guarded by mu: when the last successful renewal returned
	stopped   bool      // guarded by mu
	notified  []string  // the keeper goroutine's: what OnChange was last given
	announced bool      // the keeper goroutine's: whether OnChange was called yet
}

// Start renews the node's lease once, reads the lease table, and then keeps
// renewing every Interval on a goroutine of its own until Stop. It fails if
// the options are invalid or that first renewal fails. If Healthy reports
// false at start, the first renewal is skipped (not an error): Held is then
// false until a later round renews. ctx bounds the first round only.
func Start(ctx context.Context, opts Options) (*Keeper, error) {
	k, err := newKeeper(opts)
	if err != nil {
		return nil, err
	}
	first, ok, err := k.round(ctx)
	if err != nil {
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	go k.loop(loopCtx, first, ok)
	return k, nil
}

func newKeeper(opts Options) (*Keeper, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("leases: no store")
	case opts.Metrics == nil:
		return nil, errors.New("leases: no metrics")
	}
	if err := persistence.CheckNode(opts.Node); err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < 0 {
		return nil, fmt.Errorf("leases: negative ttl %v", ttl)
	}
	interval := opts.Interval
	if interval == 0 {
		interval = ttl / 3
	}
	if interval <= 0 || interval >= ttl {
		return nil, fmt.Errorf("leases: interval %v must be positive and shorter than the ttl %v", interval, ttl)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := opts.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &Keeper{
		store: opts.Store, node: opts.Node, ttl: ttl, interval: interval,
		healthy: opts.Healthy, onChange: opts.OnChange, m: opts.Metrics,
		log: log.With("node", opts.Node), clock: clock, done: make(chan struct{}),
	}, nil
}

// loop renews every interval until ctx ends. first and ok are the first
// round's live nodes and whether it read them.
func (k *Keeper) loop(ctx context.Context, first []string, ok bool) {
	defer close(k.done)
	if ok {
		k.notify(first)
	}
	tick := k.clock.NewTicker(k.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.Chan():
		}
		live, ok, err := k.round(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			k.log.Warn("lease renewal failed", "err", err)
		}
		if ok {
			k.notify(live)
		}
	}
}

// round renews the lease (unless unhealthy) and reads the table. It returns
// the live nodes and whether it read them, and the renewal's error.
func (k *Keeper) round(ctx context.Context) (live []string, ok bool, err error) {
	// A call slower than the TTL is worthless: bound each by it.
	ctx, cancel := context.WithTimeout(ctx, k.ttl)
	defer cancel()

	if k.healthy != nil && !k.healthy() {
		k.m.LeaseRenewals.WithLabelValues("skipped").Inc()
		k.log.Debug("lease renewal skipped: unhealthy")
	} else if err = k.renew(ctx); err != nil {
		k.m.LeaseRenewals.WithLabelValues("error").Inc()
	} else {
		k.m.LeaseRenewals.WithLabelValues("ok").Inc()
	}

	leases, lerr := k.store.Leases(ctx)
	if lerr != nil {
		if err == nil && ctx.Err() == nil {
			k.log.Warn("reading the lease table failed", "err", lerr)
		}
		return nil, false, err
	}
	nodes := make([]string, len(leases))
	for i, l := range leases {
		nodes[i] = l.Node
	}
	k.mu.Lock()
	k.live = nodes
	k.mu.Unlock()
	live = k.Live()
	k.m.ClusterNodes.Set(float64(len(live)))
	return live, true, err
}

// renew renews the lease once and records the outcome.
func (k *Keeper) renew(ctx context.Context) error {
	sent := k.clock.Now()
	_, err := k.store.RenewLease(ctx, k.node, k.ttl)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.okAt = time.Time{}
		return fmt.Errorf("leases: renew %s: %w", k.node, err)
	}
	// The store stored the previous lease before doneAt, so if more than
	// the TTL passed between then and this renewal's sending, it had
	// certainly expired: other nodes may have claimed this node's rooms.
	if !k.doneAt.IsZero() && sent.Sub(k.doneAt) > k.ttl {
		k.m.LeaseLosses.Inc()
		k.log.Warn("lease had expired before it was renewed; other nodes may have claimed this node's rooms",
			"since_last_renewal", sent.Sub(k.doneAt).String(), "ttl", k.ttl.String())
	}
	k.okAt, k.doneAt = sent, k.clock.Now()
	return nil
}

// notify calls OnChange if live differs from what it last got, or has not
// been called yet.
func (k *Keeper) notify(live []string) {
	if k.announced && slices.Equal(live, k.notified) {
		return
	}
	k.announced, k.notified = true, live
	if k.onChange != nil {
		k.onChange(slices.Clone(live))
	}
}

// Live returns the live nodes the last round found, sorted: this node is
// among them while it holds its lease (Held), and not otherwise. The slice is
// the caller's.
func (k *Keeper) Live() []string {
	held := k.Held()
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]string, 0, len(k.live)+1)
	for _, n := range k.live {
		if n != k.node {
			out = append(out, n)
		}
	}
	if held {
		i, _ := slices.BinarySearch(out, k.node)
		out = slices.Insert(out, i, k.node)
	}
	return out
}

// Held reports whether this node holds its lease: the last renewal attempt
// succeeded, less than the TTL ago by the local clock (measured from when it
// was sent, so the store's lease lasts at least as long), and Stop has not
// been called. A skipped renewal (Healthy false) changes nothing: the lease
// is held until it runs out.
func (k *Keeper) Held() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.stopped && !k.okAt.IsZero() && k.clock.Since(k.okAt) < k.ttl
}

// Stop stops renewing and waits for the keeper's goroutine (or for ctx to
// end). With release it then deletes the lease, so other nodes may claim this
// node's rooms at once (a graceful shutdown); without, the lease expires
// within the TTL. It returns the release's error, or ctx's if the goroutine
// did not stop in time. Calls after the first do nothing and return nil.
func (k *Keeper) Stop(ctx context.Context, release bool) error {
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		return nil
	}
	k.stopped = true
	k.mu.Unlock()
	k.cancel()
	select {
	case <-k.done:
	case <-ctx.Done():
		return fmt.Errorf("leases: stop %s: %w", k.node, ctx.Err())
	}
	if !release {
		return nil
	}
	if err := k.store.ReleaseLease(ctx, k.node); err != nil {
		return fmt.Errorf("leases: release %s: %w", k.node, err)
	}
	k.log.Info("lease released")
	return nil
}
