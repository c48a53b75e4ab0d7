package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/troupe-chat/troupe/actors/drills"
)

// Drill runs one drill: load, faults, settle, verify. progress receives a
// line per second while it runs.
func Drill(ctx context.Context, o Options, progress io.Writer) (Report, error) {
	if err := o.validate(); err != nil {
		return Report{}, err
	}
	urls := o.nodeURLs()
	nodes, err := newNodeSet(urls)
	if err != nil {
		return Report{}, err
	}
	apis := make([]*apiClient, len(urls))
	for i, u := range urls {
		apis[i] = newAPIClient(u, o.APIKey)
	}
	// A node drill hits node 0, which owns the most drill rooms (room r is
	// claimed on node r mod n); the server API's drills and their reports
	// then go through node 1.
	kind, victim, apiNode := o.nodeKind(), -1, 0
	if kind != "" {
		victim, apiNode = 0, 1
		for _, pid := range o.PIDs {
			if err := checkPID(pid); err != nil {
				return Report{}, fmt.Errorf("--pids: %w", err)
			}
		}
	}
	api := apis[apiNode]
	if o.apiKinds() > 0 {
		if err := preflight(ctx, api); err != nil {
			return Report{}, err
		}
	}
	before, err := nodeCounters(ctx, apis, func(int) bool { return false })
	if err != nil {
		return Report{}, err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watching sync.WaitGroup
	lag := &lagMeter{}
	nodes.lag = lag
	watching.Go(func() { lag.run(watchCtx) })
	watching.Go(func() { nodes.watch(watchCtx) })
	defer watching.Wait()
	defer stopWatch()

	id := runID()
	led := newLedger()
	st := &stats{clientErrors: map[string]int{}}
	times := newFaultTimes()
	members, err := openMembers(ctx, o, id, led, st, nodes, times)
	defer func() {
		for _, m := range members {
			_ = m.client.Close() // the verdict is in; a failed close changes nothing
		}
	}()
	if err != nil {
		return Report{}, err
	}
	fmt.Fprintf(progress, "drill %s: %d clients joined %d rooms on %d nodes; load for %s with faults %v\n", id, len(members), o.Rooms, len(urls), o.Duration, o.Kinds)

	faults := newFaultPlan(api, o, id)
	if kind != "" {
		faults.node = newNodeFault(kind, victim, o.PIDs[victim], o, ownedRooms(id, o.Rooms, len(urls), victim), members, nodes, times)
	}
	// Sends stop at the end of the load; a send in flight then has Settle to
	// be acked.
	sendCtx, cancelSends := context.WithTimeout(ctx, o.Duration+o.Settle)
	defer cancelSends()
	stop, stopLoad := context.WithTimeout(ctx, o.Duration)
	defer stopLoad()
	start := time.Now()
	var senders sync.WaitGroup
	for _, m := range members {
		senders.Go(func() { m.sendLoop(sendCtx, stop, o.Rate) })
	}
	var faulting sync.WaitGroup
	faulting.Go(func() { faults.run(ctx, stop) })
	ticker := time.NewTicker(time.Second)
	loadDone := make(chan struct{})
	go func() {
		senders.Wait()
		faulting.Wait()
		close(loadDone)
	}()
	for waiting := true; waiting; {
		select {
		case <-loadDone:
			waiting = false
		case <-ticker.C:
			fmt.Fprintf(progress, "[%5.1fs] sent %d  acked %d  failed %d  reconnects %d  nodes up %d/%d  faults %s\n",
				time.Since(start).Seconds(), st.sent.Load(), st.acked.Load(), st.failed.Load(), st.reconnects.Load(),
				nodes.upCount(), len(urls), faults.status())
		}
	}
	ticker.Stop()
	settle(ctx, led, o.Settle)

	rep := Report{
		URL: urls[apiNode], Clients: o.Clients, Rooms: o.Rooms, Duration: o.Duration.String(),
		Messages: Messages{
			Sent: int(st.sent.Load()), Acked: int(st.acked.Load()), Retried: int(st.retried.Load()), Failed: int(st.failed.Load()),
		},
		Reconnects: int(st.reconnects.Load()), Rejoins: int(st.rejoins.Load()), NewSessions: int(st.newSessions.Load()),
	}
	if len(urls) > 1 {
		rep.Nodes = urls
	}
	for _, k := range o.Kinds {
		rep.Kinds = append(rep.Kinds, string(k))
	}
	rep.summarize(faults.reports())
	// The last counters are read even after an interrupt, for the report; a
	// killed node has none to read.
	final, cancelFinal := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancelFinal()
	after, err := nodeCounters(final, apis, func(node int) bool { return node == victim && faults.node.killed() })
	if err != nil {
		return Report{}, err
	}
	rep.Restarts, rep.RoomsStopped, rep.ServerErrors = clusterSince(before, after)
	rep.DrillErrors = append(rep.DrillErrors, faults.errors()...)
	if faults.node != nil {
		rep.NodeFault = faults.node.report(start)
		if rep.NodeFault.Injected {
			rep.Faults[string(kind)]++
		}
		if rep.NodeFault.Error != "" {
			rep.DrillErrors = append(rep.DrillErrors, fmt.Sprintf("%s: %s", kind, rep.NodeFault.Error))
		}
	}
	st.mu.Lock()
	rep.AckLatency = drills.Summarize(st.ackMS)
	rep.Reconnect = drills.Summarize(st.reconnectMS)
	rep.ClientErrors = st.clientErrors
	st.mu.Unlock()
	rep.DrillLag, rep.DiscountedChecks = lag.summary(), nodes.discountedChecks()
	v := led.verify()
	for _, m := range members {
		m.mu.Lock()
		if m.closed != nil {
			v.Problems = append(v.Problems, fmt.Sprintf("%s gave up: %v", m.name, m.closed))
		}
		m.mu.Unlock()
	}
	rep.Verdict = v
	rep.OK = v.OK() && rep.Messages.Acked > 0
	return rep, nil
}

// preflight checks that the server answers the drill API with this key.
func preflight(ctx context.Context, api *apiClient) error {
	_, err := api.wait(ctx, "preflight")
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Status == 404:
		return nil
	case errors.As(err, &ae) && ae.Status == 401:
		return fmt.Errorf("the server refused the API key: %s", ae.Message)
	case err != nil:
		return fmt.Errorf("the drill API is not reachable: %w", err)
	default:
		return errors.New("the drill API answered an unknown drill id; is this a troupe server?")
	}
}
