// Package bench is `troupe bench`: load scenarios against a running server on
// loopback, reporting throughput, latency and the server's own CPU and memory
// (read from its /metrics).
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Options are the flags of `troupe bench`.
type Options struct {
	URL        string
	Conns      int
	Rooms      int
	Members    int
	Publishers int
	Rate       float64   // messages/s over all publishers (signals: per client); 0: as fast as acks allow
	Rates      []float64 // fanout ramp: one run per rate, in order (overrides Rate)
	Window     int       // unacked sends per publisher: goroutines each waiting for its ack
	Size       int
	DataBytes  int  // a JSON data payload of about this size on every message (fanout); 0: none
	Compress   bool // clients offer permessage-deflate
	Duration   time.Duration
	Src        []net.IP
	JSON       bool
	AllowAny   bool // allow non-loopback targets

	// URLs are the nodes of a cluster (--urls): members are spread over them
	// round robin, and the server figures are summed over them. Empty: URL
	// alone.
	URLs []string
	// Settle is how long the fanout waits after joining before it measures,
	// for the servers to finish the joins' work (presence to every member).
	Settle time.Duration
	// PublisherNode places the publishers (fanout): 0 spreads them with the
	// members (the default), k puts them all on the k-th of URLs.
	PublisherNode int
	// NoPresence configures the idle and storm rooms with presence off
	// through the server API (APIKey) before the connections join.
	NoPresence bool
	APIKey     string

	// Clients are the members of the signals scenario's one room, Room.
	// Rate is then each client's signals/s.
	Clients int
	Room    string
}

// Run parses args (scenario first) and runs the scenario; it returns the exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: troupe bench idle|fanout|storm|signals --url http://HOST:PORT | --urls http://HOST:PORT,… [flags]")
		return 2
	}
	scenario := args[0]
	fs := flag.NewFlagSet("bench "+scenario, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	var src string
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "server base URL")
	fs.Var((*urlList)(&o.URLs), "urls", "cluster nodes' base URLs, comma-separated or repeated (instead of --url): members and connections are spread over them round robin, server figures summed")
	var pubNode string
	fs.StringVar(&pubNode, "publisher-node", "spread", "fanout with --urls: spread (publishers spread over the nodes with the members) or N (all publishers on the N-th node of --urls, from 1)")
	fs.IntVar(&o.Conns, "conns", 1000, "connections (idle, storm)")
	fs.IntVar(&o.Rooms, "rooms", 1, "rooms")
	fs.IntVar(&o.Members, "members", 100, "members per room (fanout)")
	fs.IntVar(&o.Publishers, "publishers", 1, "publishing members (fanout)")
	fs.Float64Var(&o.Rate, "rate", 0, "fanout: messages/s over all publishers (0: as fast as acks come back); signals: signals/s per client")
	fs.IntVar(&o.Clients, "clients", 50, "clients in the room (signals)")
	fs.StringVar(&o.Room, "room", "signals", "the room (signals)")
	var rates string
	fs.StringVar(&rates, "rates", "", "fanout ramp: comma-separated rates, one --duration run each (overrides --rate)")
	fs.IntVar(&o.Window, "window", 64, "unacked sends per publisher (with --rate too: it caps the rate a slow server gets)")
	fs.IntVar(&o.Size, "size", 100, "message text bytes")
	fs.IntVar(&o.DataBytes, "data-bytes", 0, "JSON data payload bytes on every message (fanout); 0: none")
	fs.BoolVar(&o.Compress, "compression", false, "clients offer permessage-deflate")
	fs.DurationVar(&o.Settle, "settle", 0, "fanout: wait this long after joining before publishing (the joins' presence pushes done)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to publish (fanout, signals) or hold (idle)")
	fs.StringVar(&src, "src", "", "source addresses, e.g. 127.0.0.2-127.0.0.11")
	fs.BoolVar(&o.JSON, "json", false, "print the result as JSON")
	var jsonFile string
	fs.StringVar(&jsonFile, "json-file", "", "also write the result as JSON to this file (scripts: the text on stdout, the figures here)")
	fs.BoolVar(&o.NoPresence, "no-presence", false, "idle, storm: configure the rooms with presence off (no member lists, no presence diffs) through the server API first; needs --api-key")
	fs.StringVar(&o.APIKey, "api-key", "", "the server API key (--no-presence)")
	fs.BoolVar(&o.AllowAny, "allow-non-loopback", false, "allow a target outside 127.0.0.0/8")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	var err error
	if o.Rates, err = parseRates(rates); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if o.Src, err = parseSrc(src); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if o.NoPresence && o.APIKey == "" {
		fmt.Fprintln(stderr, "bench: --no-presence needs --api-key")
		return 2
	}
	urlSet := false
	fs.Visit(func(f *flag.Flag) { urlSet = urlSet || f.Name == "url" })
	if urlSet && len(o.URLs) > 0 {
		fmt.Fprintln(stderr, "bench: give --url or --urls, not both")
		return 2
	}
	for _, u := range o.nodes() {
		if err := checkTarget(u, o.AllowAny); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	if o.PublisherNode, err = parsePublisherNode(pubNode, len(o.nodes())); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(1, len(o.Rates)))*(o.Settle+o.Duration+2*time.Minute))
	defer cancel()
	var res any
	switch scenario {
	case "idle":
		res, err = runIdle(ctx, o, stderr, true)
	case "storm":
		res, err = runIdle(ctx, o, stderr, false)
	case "signals":
		res, err = runSignals(ctx, o, stderr)
	case "fanout":
		if len(o.Rates) > 0 {
			res, err = runRamp(ctx, o, stderr)
		} else {
			res, err = runFanout(ctx, o, stderr)
		}
	default:
		fmt.Fprintf(stderr, "bench: unknown scenario %q\n", scenario)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if jsonFile != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(jsonFile, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "bench: --json-file:", err)
			return 1
		}
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return 1
		}
		return 0
	}
	fmt.Fprint(stdout, res)
	return 0
}

// nodes returns the servers to load: URLs, or URL alone.
func (o Options) nodes() []string {
	if len(o.URLs) > 0 {
		return o.URLs
	}
	return []string{o.URL}
}

// urlList is --urls: comma-separated base URLs, the flag repeatable.
type urlList []string

func (l *urlList) String() string { return strings.Join(*l, ",") }

func (l *urlList) Set(s string) error {
	for _, u := range strings.Split(s, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			return errors.New("empty URL")
		}
		*l = append(*l, u)
	}
	return nil
}

// parsePublisherNode reads --publisher-node: "spread" is 0, else a node's
// 1-based place among the n of --urls.
func parsePublisherNode(s string, n int) (int, error) {
	if s == "spread" {
		return 0, nil
	}
	k, err := strconv.Atoi(s)
	if err != nil || k < 1 || k > n {
		return 0, fmt.Errorf("bench: --publisher-node %q: want spread or a node from 1 to %d (the place in --urls)", s, n)
	}
	return k, nil
}

// checkTarget refuses targets outside loopback unless allowed.
func checkTarget(raw string, allowAny bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bench: --url: %w", err)
	}
	host := u.Hostname()
	if allowAny || host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return errors.New("bench: the target must be on loopback (127.0.0.0/8); pass --allow-non-loopback to override")
	}
	return nil
}

// parseSrc parses "127.0.0.2-127.0.0.11" or a comma list.
func parseSrc(s string) ([]net.IP, error) {
	if s == "" {
		return nil, nil
	}
	if a, b, ok := strings.Cut(s, "-"); ok {
		lo, hi := net.ParseIP(a).To4(), net.ParseIP(b).To4()
		if lo == nil || hi == nil || lo[0] != hi[0] || lo[1] != hi[1] || lo[2] != hi[2] || lo[3] > hi[3] {
			return nil, fmt.Errorf("bench: --src %q: want A.B.C.X-A.B.C.Y", s)
		}
		var out []net.IP
		for i := int(lo[3]); i <= int(hi[3]); i++ {
			out = append(out, net.IPv4(lo[0], lo[1], lo[2], byte(i)))
		}
		return out, nil
	}
	var out []net.IP
	for _, p := range strings.Split(s, ",") {
		ip := net.ParseIP(strings.TrimSpace(p))
		if ip == nil {
			return nil, fmt.Errorf("bench: --src: bad address %q", p)
		}
		out = append(out, ip)
	}
	return out, nil
}

func mib(b float64) string { return strconv.FormatFloat(b/(1<<20), 'f', 1, 64) + " MiB" }
