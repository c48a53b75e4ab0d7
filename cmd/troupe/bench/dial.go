package bench

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troupe-chat/troupe/clients/go/troupe"
)

// joinTimeout bounds one connection's join, retries included: a load tool
// reports a connection that cannot join as failed rather than waiting on it.
const joinTimeout = 30 * time.Second

// dialer opens Go clients from a rotating set of source addresses, so more
// than one source port range is available.
type dialer struct {
	url      string
	srcs     []net.IP
	compress bool // offer permessage-deflate
	next     atomic.Uint64
}

// dialContext is the clients' Options.DialContext.
func (d *dialer) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: 10 * time.Second}
	if len(d.srcs) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: d.srcs[d.next.Add(1)%uint64(len(d.srcs))]}
	}
	return nd.DialContext(ctx, network, addr)
}

// join connects a client called name (hello) and joins room without history.
// onRawPush, when not nil, is the client's Options.OnRawPush.
func (d *dialer) join(ctx context.Context, name, room string, onRawPush func([]byte) bool) (*troupe.Client, error) {
	c, err := troupe.Dial(ctx, troupe.Options{URL: d.url, Name: name, DialContext: d.dialContext, OnRawPush: onRawPush, Compression: d.compress})
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	if _, err := c.Join(ctx, room, troupe.WithHistory(0)); err != nil {
		_ = c.Close() // always nil
		return nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	return c, nil
}

// closeAll closes the clients (nil entries are skipped), 64 at a time: each
// Close waits for the server's close frame.
func closeAll(cs []*troupe.Client) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range cs {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_ = c.Close() // always nil
		})
	}
	wg.Wait()
}
