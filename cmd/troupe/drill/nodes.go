package drill

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Health checking of the nodes, as a load balancer in front of a cluster
// does it: a node is down after checkFall failed checks in a row and up
// again after checkRise good ones. A check that timed out while the drill
// itself lagged (lagMeter) counts for nothing: the drill shares the
// machine with the nodes, and in a reconnect storm of 10,000 clients its
// own goroutines waited a second and more to run, which marked the
// surviving nodes down too and closed all their connections.
const (
	checkEvery   = 250 * time.Millisecond
	checkTimeout = time.Second
	checkFall    = 2
	checkRise    = 2
	// checkLagged is the drill's own lag during a check past which a
	// timeout is the drill's, not the node's.
	checkLagged = checkTimeout / 4
	dialTimeout = time.Second
)

// nodeSet plays the load balancer in front of a cluster's nodes. Every
// client has a home node and fails over to the next node that is up. When a
// node's health checks fail, the set marks it down and closes the
// connections to it (as HAProxy's on-marked-down shutdown-sessions does), so
// the clients of a paused node, whose sockets stay open, reconnect elsewhere.
type nodeSet struct {
	urls  []string // base URLs, for the API and health checks
	addrs []string // host:port, to dial
	http  *http.Client

	mu    sync.Mutex
	down  []bool                         // guarded by mu
	fails []int                          // guarded by mu: failed checks in a row
	oks   []int                          // guarded by mu: good checks in a row
	conns []map[*trackedConn]struct{}    // guarded by mu: open connections by node
	downs []func(node int, at time.Time) // guarded by mu: told when a node is marked down
	// discounted counts checks that timed out while the drill lagged.
	discounted int // guarded by mu

	lag *lagMeter // the drill's own lag; nil: no check is discounted
}

// newNodeSet returns the balancer over urls, which were checked by
// parseNodes.
func newNodeSet(urls []string) (*nodeSet, error) {
	s := &nodeSet{urls: urls, http: &http.Client{Timeout: checkTimeout}}
	for _, u := range urls {
		addr, err := dialAddr(u)
		if err != nil {
			return nil, err
		}
		s.addrs = append(s.addrs, addr)
		s.conns = append(s.conns, map[*trackedConn]struct{}{})
	}
	s.down = make([]bool, len(urls))
	s.fails = make([]int, len(urls))
	s.oks = make([]int, len(urls))
	return s, nil
}

// trackedConn is a client connection the set can close when its node goes
// down.
type trackedConn struct {
	net.Conn
	set  *nodeSet
	node int
	once sync.Once
}

// Close forgets the connection and closes it.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.set.mu.Lock()
		delete(c.set.conns[c.node], c)
		c.set.mu.Unlock()
	})
	return c.Conn.Close()
}

// dialer returns a client's DialContext: it ignores the address it is
// given, tries home first and then the other nodes in an order that
// depends on spread (as a load balancer spreads the clients of a node that
// died over the others), skipping those marked down (unless every node is),
// and tells connected which node took the connection.
func (s *nodeSet) dialer(home, spread int, connected func(node int)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var errs []error
		for _, node := range s.order(home, spread) {
			d := net.Dialer{Timeout: dialTimeout}
			nc, err := d.DialContext(ctx, network, s.addrs[node])
			if err != nil {
				errs = append(errs, err)
				if ctx.Err() != nil {
					break
				}
				continue
			}
			tc := &trackedConn{Conn: nc, set: s, node: node}
			s.mu.Lock()
			s.conns[node][tc] = struct{}{}
			s.mu.Unlock()
			connected(node)
			return tc, nil
		}
		return nil, fmt.Errorf("no node took the connection: %w", errors.Join(errs...))
	}
}

// order lists the nodes to try for a client of home: home, then the others
// starting at the spread-th after home, those up before those marked down.
func (s *nodeSet) order(home, spread int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var up, down []int
	n := len(s.urls)
	for k := range n {
		node := home
		if k > 0 {
			node = (home + 1 + (spread+k-1)%(n-1)) % n
		}
		if s.down[node] {
			down = append(down, node)
		} else {
			up = append(up, node)
		}
	}
	return append(up, down...)
}

// onDown registers f to be told when a node is marked down.
func (s *nodeSet) onDown(f func(node int, at time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.downs = append(s.downs, f)
}

// upCount returns how many nodes are up.
func (s *nodeSet) upCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.down {
		if !d {
			n++
		}
	}
	return n
}

// watch checks every node's /healthz until ctx ends. A single node is not
// watched: there is nowhere to fail over to.
func (s *nodeSet) watch(ctx context.Context) {
	if len(s.urls) < 2 {
		return
	}
	var wg sync.WaitGroup
	for node := range s.urls {
		wg.Go(func() {
			t := time.NewTicker(checkEvery)
			defer t.Stop()
			for {
				start := time.Now()
				ok, timedOut := s.healthy(ctx, node)
				if !ok && timedOut && s.lag != nil && s.lag.worstSince(start) > checkLagged {
					s.mu.Lock()
					s.discounted++
					s.mu.Unlock()
				} else {
					s.checked(node, ok)
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	wg.Wait()
}

// healthy runs one health check of node; timedOut tells a check that got
// no answer in time from one that was refused or answered badly.
func (s *nodeSet) healthy(ctx context.Context, node int) (ok, timedOut bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.urls[node]+"/healthz", nil)
	if err != nil {
		return false, false
	}
	resp, err := s.http.Do(req)
	if err != nil {
		var ne net.Error
		return false, errors.As(err, &ne) && ne.Timeout()
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, false
}

// discountedChecks returns how many checks timed out while the drill
// lagged and so counted for nothing.
func (s *nodeSet) discountedChecks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.discounted
}

// checked records a health check's outcome; a node that falls is marked
// down and its connections are closed.
func (s *nodeSet) checked(node int, ok bool) {
	s.mu.Lock()
	if ok {
		s.fails[node] = 0
		s.oks[node]++
		if s.down[node] && s.oks[node] >= checkRise {
			s.down[node] = false
		}
		s.mu.Unlock()
		return
	}
	s.oks[node] = 0
	s.fails[node]++
	if s.down[node] || s.fails[node] < checkFall {
		s.mu.Unlock()
		return
	}
	s.down[node] = true
	at := time.Now()
	var open []*trackedConn
	for c := range s.conns[node] {
		open = append(open, c)
	}
	downs := slices.Clone(s.downs)
	s.mu.Unlock()
	for _, c := range open {
		_ = c.Close() // the client sees its connection drop and fails over
	}
	for _, f := range downs {
		f(node, at)
	}
}
