package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// batchCounting is the memory store with its session batches counted: it
// is a SessionBatchStore, as PostgreSQL is.
type batchCounting struct {
	*persistence.Memory
	saves, loads atomic.Int32
}

func (b *batchCounting) SaveSessionBatch(ctx context.Context, recs []persistence.SessionRecord) error {
	b.saves.Add(1)
	for _, rec := range recs {
		if err := b.SaveSession(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

func (b *batchCounting) LoadSessionBatch(ctx context.Context, ids []string) (map[string]persistence.SessionRecord, error) {
	b.loads.Add(1)
	out := map[string]persistence.SessionRecord{}
	for _, id := range ids {
		if rec, err := b.LoadSession(ctx, id); err == nil {
			out[id] = rec
		}
	}
	return out, nil
}

// TestSessionBatchKeepsEachSessionsOrder: the calls of one batch behave as
// if made one after another: a load answers what the calls before it left,
// and the last write of a session is the one stored.
func TestSessionBatchKeepsEachSessionsOrder(t *testing.T) {
	store := &batchCounting{Memory: persistence.NewMemory()}
	ctx := t.Context()
	if err := store.SaveSession(ctx, persistence.SessionRecord{ID: "kept", UserID: "u_kept"}); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveSession(ctx, persistence.SessionRecord{ID: "gone", UserID: "u_gone"}); err != nil {
		t.Fatal(err)
	}
	b := newSessionBatch(store, time.Second)
	defer func() { b.lane.close(); b.lane.wait() }()

	type result struct {
		rec persistence.SessionRecord
		err error
	}
	var mu sync.Mutex
	got := map[string]result{}
	note := func(name string) func(persistence.SessionRecord, error) {
		return func(rec persistence.SessionRecord, err error) {
			mu.Lock()
			got[name] = result{rec, err}
			mu.Unlock()
		}
	}
	gate := make(chan struct{})
	b.lane.Do(func() { <-gate }) // everything below waits, then goes in one batch
	b.enqueue(sessionOp{load: "kept", done: note("load kept before its save")})
	b.enqueue(sessionOp{save: &persistence.SessionRecord{ID: "kept", UserID: "u_kept", Name: "first"}, done: note("save kept 1")})
	b.enqueue(sessionOp{save: &persistence.SessionRecord{ID: "kept", UserID: "u_kept", Name: "second"}, done: note("save kept 2")})
	b.enqueue(sessionOp{load: "kept", done: note("load kept after its saves")})
	b.enqueue(sessionOp{del: "gone", done: note("delete gone")})
	b.enqueue(sessionOp{load: "gone", done: note("load gone after its delete")})
	b.enqueue(sessionOp{load: "never", done: note("load never")})
	done := make(chan struct{})
	b.lane.Do(func() { close(done) })
	close(gate)
	<-done

	if n := store.loads.Load(); n != 1 {
		t.Errorf("%d load batches, want 1", n)
	}
	if n := store.saves.Load(); n != 1 {
		t.Errorf("%d save batches, want 1", n)
	}
	check := func(name, wantName string, wantErr error) {
		t.Helper()
		r, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: never answered", name)
		case wantErr != nil && !errors.Is(r.err, wantErr), wantErr == nil && r.err != nil:
			t.Errorf("%s: err %v, want %v", name, r.err, wantErr)
		case wantErr == nil && r.rec.Name != wantName:
			t.Errorf("%s: name %q, want %q", name, r.rec.Name, wantName)
		}
	}
	check("load kept before its save", "", nil)
	check("save kept 1", "", nil)
	check("save kept 2", "", nil)
	check("load kept after its saves", "second", nil)
	check("delete gone", "", nil)
	check("load gone after its delete", "", persistence.ErrNoSuchSession)
	check("load never", "", persistence.ErrNoSuchSession)
	if rec, err := store.LoadSession(ctx, "kept"); err != nil || rec.Name != "second" {
		t.Errorf("stored kept = %+v, %v; want the second save", rec, err)
	}
	if _, err := store.LoadSession(ctx, "gone"); !errors.Is(err, persistence.ErrNoSuchSession) {
		t.Errorf("gone is still stored: %v", err)
	}
}

// TestSessionBatchSplitsLongQueues: more calls than a batch holds all
// complete, in batches of at most maxSessionBatch.
func TestSessionBatchSplitsLongQueues(t *testing.T) {
	store := &batchCounting{Memory: persistence.NewMemory()}
	b := newSessionBatch(store, time.Second)
	defer func() { b.lane.close(); b.lane.wait() }()
	gate := make(chan struct{})
	b.lane.Do(func() { <-gate })
	const n = 2*maxSessionBatch + 3
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range n {
		wg.Add(1)
		rec := persistence.SessionRecord{ID: fmt.Sprintf("s%d", i), UserID: "u"}
		b.enqueue(sessionOp{save: &rec, done: func(_ persistence.SessionRecord, err error) {
			if err != nil {
				failed.Add(1)
			}
			wg.Done()
		}})
	}
	close(gate)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d saves failed", failed.Load())
	}
	if got := store.saves.Load(); got != 3 {
		t.Errorf("%d save batches for %d saves, want 3", got, n)
	}
	loaded, err := persistence.LoadSessions(t.Context(), store, []string{"s0", fmt.Sprintf("s%d", n-1)})
	if err != nil || len(loaded) != 2 {
		t.Errorf("stored saves: %v, %v", loaded, err)
	}
}
