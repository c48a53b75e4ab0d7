package transport

import (
	"fmt"
	"net/url"
	"strings"
)

// originPolicy decides which browser origins may open WebSockets. A pattern
// is scheme://host[:port], where the host may start with "*." to match one
// or more subdomain levels ("https://*.example.com" matches
// https://chat.example.com but not https://example.com). No pattern means
// every origin is allowed.
type originPolicy struct {
	exact    map[string]bool
	suffixes []originSuffix
}

type originSuffix struct {
	scheme, suffix, port string // suffix starts with "."
}

// parseOrigins builds a policy from comma-separated patterns.
func parseOrigins(list string) (*originPolicy, error) {
	p := &originPolicy{exact: map[string]bool{}}
	for _, raw := range strings.Split(list, ",") {
		pat := strings.ToLower(strings.TrimSpace(raw))
		if pat == "" {
			continue
		}
		u, err := url.Parse(pat)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("transport: allowed origin %q must look like https://host[:port]", raw)
		}
		host := u.Hostname()
		if rest, ok := strings.CutPrefix(host, "*."); ok {
			if rest == "" || strings.Contains(rest, "*") {
				return nil, fmt.Errorf("transport: allowed origin %q: only a leading *. may be a wildcard", raw)
			}
			p.suffixes = append(p.suffixes, originSuffix{scheme: u.Scheme, suffix: "." + rest, port: u.Port()})
			continue
		}
		if strings.Contains(host, "*") {
			return nil, fmt.Errorf("transport: allowed origin %q: only a leading *. may be a wildcard", raw)
		}
		p.exact[u.Scheme+"://"+u.Host] = true
	}
	return p, nil
}

// allows reports whether a request with this Origin header may upgrade.
// Requests without Origin come from non-browser clients and are allowed.
func (p *originPolicy) allows(origin string) bool {
	if origin == "" || (len(p.exact) == 0 && len(p.suffixes) == 0) {
		return true
	}
	u, err := url.Parse(strings.ToLower(origin))
	if err != nil || u.Host == "" {
		return false
	}
	if p.exact[u.Scheme+"://"+u.Host] {
		return true
	}
	for _, s := range p.suffixes {
		if u.Scheme == s.scheme && u.Port() == s.port && strings.HasSuffix(u.Hostname(), s.suffix) {
			return true
		}
	}
	return false
}
