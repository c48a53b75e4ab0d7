package transport

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxyPolicy finds a request's client address when troupe runs behind
// reverse proxies it trusts (nginx): their X-Forwarded-For is believed, read
// from the right, up to the first address that is not a trusted proxy.
// Without trusted proxies the TCP peer is the client.
type proxyPolicy struct {
	trusted []netip.Prefix
}

// parseProxies reads comma-separated CIDRs or addresses.
func parseProxies(list string) (*proxyPolicy, error) {
	p := &proxyPolicy{}
	for _, raw := range strings.Split(list, ",") {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			addr, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("transport: trusted proxy %q: %w", raw, err)
			}
			p.trusted = append(p.trusted, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("transport: trusted proxy %q: %w", raw, err)
		}
		p.trusted = append(p.trusted, prefix.Masked())
	}
	return p, nil
}

func (p *proxyPolicy) trusts(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, prefix := range p.trusted {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// clientIP returns the address per-IP limits and logs use for r.
func (p *proxyPolicy) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(p.trusted) == 0 || !p.trusts(peer) {
		return host
	}
	client := peer
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: believe nothing further left
		}
		client = addr.Unmap()
		if !p.trusts(client) {
			break
		}
	}
	return client.String()
}
