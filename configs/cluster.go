package configs

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/storeurl"
)

// MaxNodeIDBytes bounds the length of NodeID (--node-id), in bytes.
const MaxNodeIDBytes = 128

// NATSSchemes lists the URL schemes NATS accepts (--nats).
var NATSSchemes = []string{"nats", "tls", "ws", "wss"}

// defaultNodeID returns the host name, or "troupe" when the host has none
// that can name a node.
func defaultNodeID() string {
	h, err := os.Hostname()
	if err != nil || checkNodeID(h) != nil {
		return "troupe"
	}
	return h
}

// ClusterEnabled reports whether this node is part of a cluster: with NATS
// embedded (ClusterListen set) or external (NATS set).
func (c Config) ClusterEnabled() bool {
	return c.ClusterListen != "" || len(c.NATSURLs()) > 0
}

// Peers returns the route addresses of ClusterPeers (host:port), trimmed of
// spaces, without empty entries; nil when there are none.
func (c Config) Peers() []string {
	return ParseList(strings.Join(c.ClusterPeers, ","))
}

// NATSURLs returns the URLs of NATS, split at commas and trimmed of spaces,
// without empty entries; nil when there are none.
func (c Config) NATSURLs() []string {
	return ParseList(c.NATS)
}

// validateCluster checks the cluster settings and the rules tying them to
// the store, one problem per entry, each starting with its flag name.
func (c Config) validateCluster() []error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if err := checkNodeID(c.NodeID); err != nil {
		bad("node-id", "%v", err)
	}
	if c.ClusterListen != "" {
		if err := checkHostPort(c.ClusterListen, 0); err != nil {
			bad("cluster-listen", "%v", err)
		}
		if c.NATS != "" {
			bad("cluster-listen", "cannot be combined with --nats: the nodes talk through their embedded NATS servers (--cluster-listen, --cluster-peers) or through an external NATS cluster (--nats), not both")
		}
	}
	peers := c.Peers()
	if len(peers) > 0 && c.ClusterListen == "" {
		bad("cluster-peers", "needs --cluster-listen: the peers are the routes of the embedded NATS server")
	}
	for _, p := range peers {
		if err := checkHostPort(p, 1); err != nil {
			bad("cluster-peers", "%v", err)
		}
	}
	if c.NATS != "" {
		urls := c.NATSURLs()
		if len(urls) == 0 {
			bad("nats", "no URL in %q", c.NATS)
		}
		for _, u := range urls {
			if err := checkNATSURL(u); err != nil {
				bad("nats", "%v", err)
			}
		}
	}
	if c.ClusterEnabled() {
		// An unparsable store is reported by Validate already.
		if u, err := storeurl.Parse(c.Store); err == nil && u.Kind != storeurl.Postgres {
			bad("store", "the cluster needs a shared PostgreSQL store: --store postgres://…; sqlite and memory stores hold one node's data (got %s)", u.Redacted())
		}
	}
	return errs
}

// checkNodeID accepts what persistence.CheckNode accepts, up to
// MaxNodeIDBytes, without spaces: the id also names the embedded NATS
// server, and nats-server refuses a name with a space.
func checkNodeID(id string) error {
	if err := persistence.CheckNode(id); err != nil {
		if id == "" {
			return fmt.Errorf("must not be empty")
		}
		return fmt.Errorf("must be valid UTF-8 without NUL bytes, got %q", id)
	}
	if len(id) > MaxNodeIDBytes {
		return fmt.Errorf("must be at most %d bytes, got %d", MaxNodeIDBytes, len(id))
	}
	if strings.Contains(id, " ") {
		return fmt.Errorf("must not contain spaces (it names the embedded NATS server), got %q", id)
	}
	return nil
}

// checkHostPort accepts "host:port" with a host and a numeric port in
// minPort..65535.
func checkHostPort(s string, minPort int) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", s)
	}
	if host == "" {
		return fmt.Errorf("want host:port with a host (0.0.0.0 for every interface), got %q", s)
	}
	if n, ok := numericPort(port); !ok || n < minPort {
		return fmt.Errorf("want a numeric port %d-65535, got %q", minPort, s)
	}
	return nil
}

// numericPort parses a port of decimal digits only, up to 65535.
func numericPort(s string) (int, bool) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n <= 65535
}

// checkNATSURL accepts a URL NATS can connect to: scheme nats, tls, ws or
// wss, a host, and a numeric port when one is given. Its errors never show a
// password the URL carries.
func checkNATSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return fmt.Errorf("a URL with credentials does not parse: %v", errorWithout(err, s))
		}
		return fmt.Errorf("%q is not a URL: %v", s, errorWithout(err, s))
	}
	shown := strconv.Quote(u.Redacted())
	switch {
	case !slices.Contains(NATSSchemes, u.Scheme):
		return fmt.Errorf("%s: scheme must be one of %s", shown, strings.Join(NATSSchemes, ", "))
	case u.Hostname() == "":
		return fmt.Errorf("%s: no host (want %s://host:port)", shown, u.Scheme)
	case u.Port() != "":
		if n, ok := numericPort(u.Port()); !ok || n == 0 {
			return fmt.Errorf("%s: want a numeric port 1-65535", shown)
		}
	}
	return nil
}

// errorWithout returns the message of a url.Parse error without the URL it
// quotes, which may carry a password.
func errorWithout(err error, raw string) string {
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err
	}
	return strings.ReplaceAll(err.Error(), raw, "…")
}

// List is a list of strings a flag or an environment variable writes
// comma-separated ("a:1,b:2") and a YAML file writes either as a sequence or
// as the same comma-separated string. Entries are trimmed of spaces and
// empty ones dropped; a list without entries is nil. *List is a flag.Value:
// setting it replaces the list.
type List []string

// ParseList splits s at commas, trims the entries of spaces and drops the
// empty ones; it returns nil when none is left.
func ParseList(s string) List {
	var l List
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			l = append(l, e)
		}
	}
	return l
}

// String returns the entries joined with commas, as Set takes them.
func (l List) String() string { return strings.Join(l, ",") }

// Set replaces the list with the entries of s, comma-separated.
func (l *List) Set(s string) error {
	*l = ParseList(s)
	return nil
}

// UnmarshalYAML takes a sequence of strings or a comma-separated string.
// Entries of a sequence may hold commas too.
func (l *List) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = ParseList(s)
	case yaml.SequenceNode:
		var items []string
		if err := n.Decode(&items); err != nil {
			return err
		}
		*l = ParseList(strings.Join(items, ","))
	default:
		return fmt.Errorf("line %d: want a list or a comma-separated string", n.Line)
	}
	return nil
}
