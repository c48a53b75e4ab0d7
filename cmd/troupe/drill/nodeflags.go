package drill

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// parseNodes reads --nodes: comma-separated base URLs (http, https, ws or
// wss, with a host), returned without a trailing slash.
func parseNodes(s string) ([]string, error) {
	var out []string
	for _, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if _, err := dialAddr(raw); err != nil {
			return nil, fmt.Errorf("--nodes: %w", err)
		}
		out = append(out, strings.TrimRight(raw, "/"))
	}
	return out, nil
}

// parsePIDs reads --pids: comma-separated process ids.
func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		pid, err := strconv.Atoi(raw)
		if err != nil {
			return nil, fmt.Errorf("--pids: %q is not a process id", raw)
		}
		out = append(out, pid)
	}
	return out, nil
}

// dialAddr returns the host:port a node's base URL is reached at.
func dialAddr(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("node URL %q: %w", base, err)
	}
	port := ""
	switch u.Scheme {
	case "http", "ws":
		port = "80"
	case "https", "wss":
		port = "443"
	default:
		return "", fmt.Errorf("node URL %q: scheme must be http, https, ws or wss", base)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("node URL %q has no host", base)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// isLoopback reports whether a node's base URL names this machine by a
// loopback address (127.0.0.0/8, ::1) or as localhost: a node drill
// signals local processes, so it only drills local nodes.
func isLoopback(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkNodeFlags checks --nodes and --pids for the node drills: at least
// two nodes, all local, one distinct pid for each.
func checkNodeFlags(nodes []string, pids []int) error {
	var errs []error
	if len(nodes) < 2 {
		errs = append(errs, fmt.Errorf("node drills need --nodes with at least two nodes (one to fail, one to take over), got %d", len(nodes)))
	}
	for _, n := range nodes {
		if !isLoopback(n) {
			errs = append(errs, fmt.Errorf("--nodes: %s is not a loopback address: node drills signal local processes only", n))
		}
	}
	if len(pids) != len(nodes) {
		errs = append(errs, fmt.Errorf("--pids: need one pid per node (pid i serves node i), got %d pids for %d nodes", len(pids), len(nodes)))
	}
	seen := map[int]bool{}
	for _, pid := range pids {
		if pid <= 1 {
			errs = append(errs, fmt.Errorf("--pids: %d is not a process id above 1", pid))
		}
		if seen[pid] {
			errs = append(errs, fmt.Errorf("--pids: %d is given twice", pid))
		}
		seen[pid] = true
	}
	return errors.Join(errs...)
}
