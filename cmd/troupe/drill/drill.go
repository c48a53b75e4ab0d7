// Package drill is `troupe drill`: against a running server it opens clients
// in rooms that send sequenced messages the way a real client does (cids,
// retries, reconnect and recovery with since), starts fault drills through
// the server API while the load runs, and then checks end to end that every
// acked message reached every member exactly once, in offset order, with no
// gap. It prints a report and exits non-zero when anything acked was lost or
// duplicated.
package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/troupe-chat/troupe/actors/drills"
)

// Options are the flags of `troupe drill`.
type Options struct {
	// URL is the server's base URL, when Nodes is empty.
	URL string
	// Nodes are the base URLs of a cluster's nodes; the clients are spread
	// over them and fail over from one to the next. Empty: URL alone.
	Nodes []string
	// PIDs are the processes serving Nodes, index for index: the node drills
	// signal them.
	PIDs []int
	// Pause is how long node-pause keeps its node stopped; past the node
	// lease (3 s) its rooms move.
	Pause   time.Duration
	APIKey  string
	Kinds   []drills.Kind
	Clients int
	// Listeners are clients on node 0 that join the drill rooms and send
	// nothing (--listeners).
	Listeners int
	Rooms     int
	Duration  time.Duration
	// Rate is how many messages per second each client sends.
	Rate float64
	// Settle bounds the wait for the last acks and deliveries after the load.
	Settle time.Duration
	// Crashes is how many times a room-crash drill crashes each room.
	Crashes int
	JSON    bool
}

// drillGCPercent is the collector's target while a drill runs (GOGC).
const drillGCPercent = 400

// Run parses args and runs a drill; it returns the exit status: 0 when
// nothing acked was lost or duplicated, 1 when something was, 2 when the
// drill could not run.
func Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	var kinds, nodes, pids, cpuProfile string
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "server base URL (without --nodes)")
	fs.StringVar(&nodes, "nodes", "", "base URLs of a cluster's nodes, comma-separated: clients are spread over them and fail over to the next (default: --url)")
	fs.StringVar(&pids, "pids", "", "process ids of the --nodes, in the same order, for node-kill and node-pause (local nodes only)")
	fs.DurationVar(&o.Pause, "pause", 6*time.Second, "how long node-pause keeps the node stopped (past its 3s lease)")
	fs.StringVar(&o.APIKey, "api-key", "", "the server's API key (--api-key of the server)")
	fs.StringVar(&kinds, "kinds", "room-crash,conn-kill,user-crash,store-stall", "faults to inject, comma-separated: room-crash, conn-kill, user-crash, store-stall (through the server API), node-kill, node-pause (signals to --pids)")
	fs.IntVar(&o.Clients, "clients", 50, "clients sending while the faults run")
	fs.IntVar(&o.Listeners, "listeners", 0, "more clients, all on node 0 (the node a node drill hits), that join the drill rooms and only receive: a reconnect storm of that size when node 0 dies")
	fs.IntVar(&o.Rooms, "rooms", 5, "rooms the clients share")
	fs.DurationVar(&o.Duration, "duration", 20*time.Second, "how long the load runs; faults start spread over it")
	fs.Float64Var(&o.Rate, "rate", 5, "messages per second per client")
	fs.IntVar(&o.Crashes, "crashes", 3, "crashes per room in the room-crash drill, 300ms apart")
	fs.DurationVar(&o.Settle, "settle", 60*time.Second, "longest wait for the last acks and deliveries after the load")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON on stdout (progress stays on stderr)")
	fs.StringVar(&cpuProfile, "cpu-profile", "", "write the drill's own CPU profile to this file (what the clients cost in a storm)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: troupe drill --url http://HOST:PORT --api-key KEY [--kinds room-crash,conn-kill,user-crash,store-stall] [--clients 50] [--rooms 5] [--duration 20s] [--json]")
		fmt.Fprintln(stderr, "       troupe drill --nodes http://HOST:PORT,... --pids PID,... --kinds node-kill|node-pause [--pause 6s] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var errs []error
	var err error
	if o.Kinds, err = parseKinds(kinds); err != nil {
		errs = append(errs, err)
	}
	if o.Nodes, err = parseNodes(nodes); err != nil {
		errs = append(errs, err)
	}
	if o.PIDs, err = parsePIDs(pids); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "troupe drill: %v\n", err)
		return 2
	}
	if err := o.validate(); err != nil {
		fmt.Fprintf(stderr, "troupe drill: %v\n", err)
		return 2
	}
	if cpuProfile != "" {
		stopProfile, err := startCPUProfile(cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "troupe drill: %v\n", err)
			return 2
		}
		defer stopProfile()
	}
	// The drill is a load tool: it trades memory for the CPU it shares with
	// the nodes (in a 10,000-client storm a fifth of its CPU was the
	// collector at the default 100%).
	defer debug.SetGCPercent(debug.SetGCPercent(drillGCPercent))
	// An interrupt ends the load early: a paused node is continued, and the
	// report covers what ran.
	ctx, stop := signalContext()
	defer stop()
	rep, err := Drill(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "troupe drill: %v\n", err)
		return 2
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "troupe drill: write report: %v\n", err)
			return 2
		}
	} else {
		rep.write(stdout)
	}
	switch {
	case !rep.OK:
		return 1
	case rep.NodeFault != nil && !rep.NodeFault.Injected:
		return 2 // the node drill did not run
	}
	return 0
}

func parseKinds(s string) ([]drills.Kind, error) {
	var out []drills.Kind
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		valid := isNodeKind(drills.Kind(k))
		for _, known := range drills.Kinds {
			if drills.Kind(k) == known {
				valid = true
			}
		}
		if !valid {
			return nil, fmt.Errorf("--kinds: unknown drill %q (known: %v, %s, %s)", k, drills.Kinds, NodeKill, NodePause)
		}
		out = append(out, drills.Kind(k))
	}
	return out, nil
}

func (o Options) validate() error {
	var errs []error
	nodeKinds := len(o.Kinds) - o.apiKinds()
	if o.APIKey == "" && o.apiKinds() > 0 {
		errs = append(errs, errors.New("--api-key is required: drills go through the server API"))
	}
	if nodeKinds > 1 {
		errs = append(errs, fmt.Errorf("--kinds: one node drill per run (%s or %s): each measures the rooms its node owned at the start", NodeKill, NodePause))
	}
	if nodeKinds > 0 {
		if err := checkNodeFlags(o.Nodes, o.PIDs); err != nil {
			errs = append(errs, err)
		}
		if o.nodeKind() == NodePause && o.Pause <= 0 {
			errs = append(errs, errors.New("--pause must be positive"))
		}
	}
	if len(o.PIDs) > 0 && nodeKinds == 0 {
		errs = append(errs, errors.New("--pids is for node-kill and node-pause only"))
	}
	if o.Listeners < 0 {
		errs = append(errs, fmt.Errorf("--listeners must be >= 0, got %d", o.Listeners))
	}
	if o.Clients < 1 || o.Rooms < 1 || o.Rooms > o.Clients {
		errs = append(errs, fmt.Errorf("need 1 <= --rooms <= --clients, got %d rooms and %d clients", o.Rooms, o.Clients))
	}
	if o.Duration <= 0 || o.Rate <= 0 || o.Settle <= 0 || o.Crashes <= 0 {
		errs = append(errs, errors.New("--duration, --rate, --settle and --crashes must be positive"))
	}
	return errors.Join(errs...)
}

// nodeURLs returns the nodes the clients connect to.
func (o Options) nodeURLs() []string {
	if len(o.Nodes) > 0 {
		return o.Nodes
	}
	return []string{strings.TrimRight(o.URL, "/")}
}

// apiKinds counts the run's drills that go through the server API.
func (o Options) apiKinds() int {
	n := 0
	for _, k := range o.Kinds {
		if !isNodeKind(k) {
			n++
		}
	}
	return n
}

// nodeKind returns the run's node drill, or "" when it has none.
func (o Options) nodeKind() drills.Kind {
	for _, k := range o.Kinds {
		if isNodeKind(k) {
			return k
		}
	}
	return ""
}

// signalContext returns a context that ends at the first SIGINT or
// SIGTERM; a second one has its default effect.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}

// runID names one run's rooms and clients, so runs never share a room.
// startCPUProfile profiles the process's CPU into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func runID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return hex.EncodeToString(b[:])
}
