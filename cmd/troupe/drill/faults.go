package drill

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/troupe-chat/troupe/actors/drills"
)

// faultPlan starts the chosen drills spread over the load and collects
// their reports.
type faultPlan struct {
	api   *apiClient
	o     Options
	rooms []string

	// node is the run's node drill, nil without one.
	node *nodeFault

	mu      sync.Mutex
	started map[string]drills.Kind // drill id → kind, while running
	done    []drills.Report
	errs    []string
}

func newFaultPlan(api *apiClient, o Options, id string) *faultPlan {
	p := &faultPlan{api: api, o: o, started: map[string]drills.Kind{}}
	for r := range o.Rooms {
		p.rooms = append(p.rooms, roomName(id, r))
	}
	return p
}

// specs returns the drills of one kind for this run.
func (p *faultPlan) specs(kind drills.Kind) []drills.Spec {
	switch kind {
	case drills.RoomCrash:
		var out []drills.Spec
		for _, r := range p.rooms {
			out = append(out, drills.Spec{Kind: kind, Room: r, Count: p.o.Crashes, IntervalMS: 300})
		}
		return out
	case drills.ConnKill:
		return []drills.Spec{{Kind: kind, Count: max(1, p.o.Clients/5)}}
	case drills.UserCrash:
		return []drills.Spec{{Kind: kind, Count: max(1, p.o.Clients/5)}}
	case drills.StoreStall:
		d := min(max(p.o.Duration/5, 500*time.Millisecond), 3*time.Second)
		return []drills.Spec{{Kind: kind, DurationMS: int(d.Milliseconds())}}
	}
	return nil
}

// run starts kind k at (k+1)/(n+1) of the load and waits for every drill.
func (p *faultPlan) run(ctx, stop context.Context) {
	var wg sync.WaitGroup
	start := time.Now()
	for i, kind := range p.o.Kinds {
		at := start.Add(p.o.Duration * time.Duration(i+1) / time.Duration(len(p.o.Kinds)+1))
		wg.Go(func() {
			t := time.NewTimer(time.Until(at))
			defer t.Stop()
			select {
			case <-t.C:
			case <-stop.Done():
				return
			}
			if isNodeKind(kind) {
				p.node.run(ctx)
				return
			}
			var each sync.WaitGroup
			for _, spec := range p.specs(kind) {
				each.Go(func() { p.one(ctx, spec) })
			}
			each.Wait()
		})
	}
	wg.Wait()
}

func (p *faultPlan) one(ctx context.Context, spec drills.Spec) {
	rep, err := p.api.start(ctx, spec)
	if err != nil {
		p.fail(spec, err)
		return
	}
	p.mu.Lock()
	p.started[rep.ID] = spec.Kind
	p.mu.Unlock()
	rep, err = p.api.wait(ctx, rep.ID)
	p.mu.Lock()
	delete(p.started, rep.ID)
	p.mu.Unlock()
	if err != nil {
		p.fail(spec, err)
		return
	}
	p.mu.Lock()
	p.done = append(p.done, rep)
	p.mu.Unlock()
}

func (p *faultPlan) fail(spec drills.Spec, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, fmt.Sprintf("%s: %v", spec.Kind, err))
}

// status describes the drills for the progress line.
func (p *faultPlan) status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	running := map[drills.Kind]int{}
	for _, k := range p.started {
		running[k]++
	}
	var parts []string
	for k, n := range running {
		parts = append(parts, fmt.Sprintf("%s×%d running", k, n))
	}
	parts = append(parts, fmt.Sprintf("%d done", len(p.done)))
	if p.node != nil {
		parts = append(parts, p.node.status())
	}
	return strings.Join(parts, ", ")
}

func (p *faultPlan) reports() []drills.Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]drills.Report(nil), p.done...)
}

func (p *faultPlan) errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}
