package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is a commit function that records its groups and, while gated,
// blocks each commit until release is called.
type fake struct {
	mu      sync.Mutex
	groups  [][]int         // the items of each commit, in call order
	ctxErrs []error         // each commit's ctx.Err() when it began
	gate    chan struct{}   // nil: commit at once
	entered chan struct{}   // receives once per commit that has begun
	running atomic.Int64    // commits running now
	most    atomic.Int64    // the most that ran at once
	outcome func(int) error // the Err of a live item; nil: none
}

func newFake(gated bool) *fake {
	f := &fake{entered: make(chan struct{}, 1024)}
	if gated {
		f.gate = make(chan struct{})
	}
	return f
}

// release lets every gated commit, current and future, go on.
func (f *fake) release() { close(f.gate) }

func (f *fake) commit(ctx context.Context, group []*Request[int]) {
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		m := f.most.Load()
		if n <= m || f.most.CompareAndSwap(m, n) {
			break
		}
	}
	items := make([]int, len(group))
	for i, r := range group {
		items[i] = r.Item
	}
	f.mu.Lock()
	f.groups = append(f.groups, items)
	f.ctxErrs = append(f.ctxErrs, ctx.Err())
	f.mu.Unlock()
	f.entered <- struct{}{}
	if f.gate != nil {
		<-f.gate
	}
	for _, r := range group {
		switch {
		case r.Ctx.Err() != nil:
			r.Err = fmt.Errorf("skipped: %w", r.Ctx.Err())
		case f.outcome != nil:
			r.Err = f.outcome(r.Item)
		}
	}
}

func (f *fake) snapshot() [][]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]int(nil), f.groups...)
}

// queued reports how many requests wait in q untaken.
func queued[T any](q *Queue[T]) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
}

// waitQueued waits until n requests wait in q.
func waitQueued[T any](t *testing.T, q *Queue[T], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for queued(q) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", queued(q), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// goDo runs q.Do(ctx, item) in a goroutine; its outcome arrives on the
// returned channel.
func goDo(ctx context.Context, q *Queue[int], item int) <-chan error {
	done := make(chan error, 1)
	go func() { done <- q.Do(ctx, item) }()
	return done
}

// TestAloneCommitsAtOnce: with nothing else running, Do commits its item in
// a group of its own and returns the commit's outcome as it is.
func TestAloneCommitsAtOnce(t *testing.T) {
	f := newFake(false)
	boom := errors.New("boom")
	f.outcome = func(i int) error {
		if i == 2 {
			return boom
		}
		return nil
	}
	q := New(1, f.commit)
	if err := q.Do(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if err := q.Do(t.Context(), 2); err != boom {
		t.Fatalf("Do = %v, want the commit's error as it is", err)
	}
	if got := fmt.Sprint(f.snapshot()); got != "[[1] [2]]" {
		t.Fatalf("groups %s, want [[1] [2]]", got)
	}
}

// TestEndedContextIsNotQueued: a ctx that has already ended fails Do at
// once, without a commit.
func TestEndedContextIsNotQueued(t *testing.T) {
	f := newFake(false)
	q := New(1, f.commit)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := q.Do(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	if g := f.snapshot(); len(g) != 0 {
		t.Fatalf("commits %v, want none", g)
	}
}

// TestGroupsWhatQueuedMeanwhile queues requests behind a running commit, one
// at a time so their order is known: the leader returns after its own
// commit, and the oldest waiting request leads the next group, which holds
// every request queued meanwhile, oldest first.
func TestGroupsWhatQueuedMeanwhile(t *testing.T) {
	f := newFake(true)
	q := New(1, f.commit)
	ctx := t.Context()
	first := goDo(ctx, q, 0)
	<-f.entered
	var rest []<-chan error
	for i := 1; i <= 5; i++ {
		rest = append(rest, goDo(ctx, q, i))
		waitQueued(t, q, i)
	}
	f.release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for _, done := range rest {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(f.snapshot()); got != "[[0] [1 2 3 4 5]]" {
		t.Fatalf("groups %s, want [[0] [1 2 3 4 5]]", got)
	}
	if queued(q) != 0 || q.leaders != 0 {
		t.Fatalf("after the commits: %d queued, %d leaders", queued(q), q.leaders)
	}
}

// TestGroupsAreBounded queues more than MaxGroup requests behind a running
// commit: they are committed MaxGroup at a time, in arrival order.
func TestGroupsAreBounded(t *testing.T) {
	f := newFake(true)
	q := New(1, f.commit)
	ctx := t.Context()
	first := goDo(ctx, q, -1)
	<-f.entered
	const n = MaxGroup + 44
	var rest []<-chan error
	for i := range n {
		rest = append(rest, goDo(ctx, q, i))
		waitQueued(t, q, i+1)
	}
	f.release()
	for _, done := range append(rest, first) {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	groups := f.snapshot()
	if len(groups) != 3 || len(groups[1]) != MaxGroup || len(groups[2]) != n-MaxGroup {
		t.Fatalf("%d groups (sizes %d, %d…), want 1, %d, %d", len(groups), len(groups[0]), len(groups[1]), MaxGroup, n-MaxGroup)
	}
	for i, item := range append(groups[1], groups[2]...) {
		if item != i {
			t.Fatalf("item %d committed at position %d", item, i)
		}
	}
}

// TestAtMostCommittersLeaders: with three committers, three callers lead at
// once, a fourth waits until one of their commits ends, then leads the
// group of everything queued.
func TestAtMostCommittersLeaders(t *testing.T) {
	f := newFake(true)
	q := New(3, f.commit)
	ctx := t.Context()
	var dones []<-chan error
	for i := range 3 {
		dones = append(dones, goDo(ctx, q, i))
		<-f.entered
	}
	for i := 3; i < 6; i++ {
		dones = append(dones, goDo(ctx, q, i))
		waitQueued(t, q, i-2)
	}
	time.Sleep(20 * time.Millisecond)
	if n := f.running.Load(); n != 3 {
		t.Fatalf("%d commits running, want 3", n)
	}
	f.release()
	for _, done := range dones {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if m := f.most.Load(); m != 3 {
		t.Fatalf("at most %d commits ran at once, want 3", m)
	}
	groups := f.snapshot()
	if got := fmt.Sprint(groups[3:]); len(groups) != 4 || got != "[[3 4 5]]" {
		t.Fatalf("groups %v, want three of one, then [3 4 5]", groups)
	}
}

// TestCommittersUnderLoad hammers a queue with many callers: every Do gets
// its own item's outcome, no more than committers commits ever run at once,
// and commits are shared.
func TestCommittersUnderLoad(t *testing.T) {
	for _, committers := range []int{1, 4} {
		t.Run(fmt.Sprintf("committers=%d", committers), func(t *testing.T) {
			f := newFake(false)
			f.outcome = func(i int) error {
				if i%7 == 0 {
					return fmt.Errorf("item %d", i)
				}
				return nil
			}
			slow := func(ctx context.Context, group []*Request[int]) {
				time.Sleep(200 * time.Microsecond)
				f.commit(ctx, group)
				<-f.entered
			}
			q := New(committers, slow)
			const callers, each = 64, 20
			var wg sync.WaitGroup
			for c := range callers {
				wg.Go(func() {
					for k := range each {
						item := c*each + k
						err := q.Do(t.Context(), item)
						want := f.outcome(item)
						if fmt.Sprint(err) != fmt.Sprint(want) {
							t.Errorf("Do(%d) = %v, want %v", item, err, want)
						}
					}
				})
			}
			wg.Wait()
			if m := f.most.Load(); m > int64(committers) {
				t.Fatalf("%d commits ran at once, want at most %d", m, committers)
			}
			groups := f.snapshot()
			seen := map[int]bool{}
			for _, g := range groups {
				for _, item := range g {
					if seen[item] {
						t.Fatalf("item %d committed twice", item)
					}
					seen[item] = true
				}
			}
			if len(seen) != callers*each {
				t.Fatalf("%d items committed, want %d", len(seen), callers*each)
			}
			if len(groups) >= callers*each {
				t.Fatalf("%d commits for %d items: none shared", len(groups), callers*each)
			}
			t.Logf("%d items in %d commits", callers*each, len(groups))
		})
	}
}

// TestQueuedRequestWaitsForItsOutcome cancels a request queued behind a
// running commit: Do keeps waiting, and returns the outcome the next
// commit gave it (here: skipped, as the stores do).
func TestQueuedRequestWaitsForItsOutcome(t *testing.T) {
	f := newFake(true)
	q := New(1, f.commit)
	first := goDo(t.Context(), q, 0)
	<-f.entered
	ctx, cancel := context.WithCancel(t.Context())
	done := goDo(ctx, q, 1)
	waitQueued(t, q, 1)
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Do returned %v before its outcome was known", err)
	case <-time.After(50 * time.Millisecond):
	}
	f.release()
	if err := <-done; !errors.Is(err, context.Canceled) || err.Error() != "skipped: context canceled" {
		t.Fatalf("Do = %v, want the commit's outcome", err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.snapshot()); got != "[[0] [1]]" {
		t.Fatalf("groups %s, want [[0] [1]]", got)
	}
}

// TestLeaderCancellationSparesItsGroup cancels the promoted leader's
// context while it commits: the commit's ctx does not end, and the others
// of its group get their own outcome.
func TestLeaderCancellationSparesItsGroup(t *testing.T) {
	f := newFake(true)
	q := New(1, f.commit)
	first := goDo(t.Context(), q, 0)
	<-f.entered
	leaderCtx, cancel := context.WithCancel(t.Context())
	leader := goDo(leaderCtx, q, 1)
	waitQueued(t, q, 1)
	other := goDo(t.Context(), q, 2)
	waitQueued(t, q, 2)
	cancel() // before the group [1 2] commits
	f.release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-other; err != nil {
		t.Fatalf("the leader's cancellation failed another request: %v", err)
	}
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled leader: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := fmt.Sprint(f.groups); got != "[[0] [1 2]]" {
		t.Fatalf("groups %s, want [[0] [1 2]]", got)
	}
	for i, err := range f.ctxErrs {
		if err != nil {
			t.Fatalf("commit %d ran with an ended ctx: %v", i, err)
		}
	}
}

// TestFailPending sets an error only where none is.
func TestFailPending(t *testing.T) {
	own := errors.New("own")
	group := []*Request[int]{{Err: own}, {}}
	boom := errors.New("boom")
	FailPending(group, boom)
	if group[0].Err != own || group[1].Err != boom {
		t.Fatalf("outcomes %v, %v", group[0].Err, group[1].Err)
	}
}

// TestEachInSavepoint runs three requests, the second failing: its
// savepoint is rolled back, the others released; a failing savepoint
// statement stops the loop with context.
func TestEachInSavepoint(t *testing.T) {
	ctx := t.Context()
	var log []string
	exec := func(_ context.Context, sql string) error { log = append(log, sql); return nil }
	bad := errors.New("bad")
	apply := func(_ context.Context, r *Request[int]) error {
		log = append(log, fmt.Sprint("apply ", r.Item))
		if r.Item == 2 {
			return bad
		}
		return nil
	}
	group := []*Request[int]{{Item: 1}, {Item: 2}, {Item: 3}}
	stored, err := EachInSavepoint(ctx, group, exec, apply)
	if err != nil || stored != 2 || group[0].Err != nil || group[1].Err != bad || group[2].Err != nil {
		t.Fatalf("stored %d, %v; outcomes %v %v %v", stored, err, group[0].Err, group[1].Err, group[2].Err)
	}
	want := "[SAVEPOINT room_batch apply 1 RELEASE SAVEPOINT room_batch " +
		"SAVEPOINT room_batch apply 2 ROLLBACK TO SAVEPOINT room_batch RELEASE SAVEPOINT room_batch " +
		"SAVEPOINT room_batch apply 3 RELEASE SAVEPOINT room_batch]"
	if got := fmt.Sprint(log); got != want {
		t.Fatalf("statements\n%s\nwant\n%s", got, want)
	}

	broken := errors.New("connection lost")
	exec = func(_ context.Context, sql string) error {
		if sql == "RELEASE SAVEPOINT room_batch" {
			return broken
		}
		return nil
	}
	stored, err = EachInSavepoint(ctx, []*Request[int]{{Item: 1}, {Item: 3}}, exec, apply)
	if !errors.Is(err, broken) || err.Error() != "release savepoint: connection lost" || stored != 1 {
		t.Fatalf("stored %d, %v; want 1 and the release's error", stored, err)
	}
}

// TestLive skips ended and refused requests, giving them their reason.
func TestLive(t *testing.T) {
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	closed := errors.New("closed")
	group := []*Request[int]{{Ctx: t.Context(), Item: 1}, {Ctx: ended, Item: 2}, {Ctx: t.Context(), Item: 3}}
	if live := Live(group, func() error { return nil }); len(live) != 2 || live[0].Item != 1 || live[1].Item != 3 {
		t.Fatalf("live %v", live)
	}
	if !errors.Is(group[1].Err, context.Canceled) || group[0].Err != nil {
		t.Fatalf("outcomes %v, %v", group[0].Err, group[1].Err)
	}
	if live := Live(group[:1], func() error { return closed }); len(live) != 0 || group[0].Err != closed {
		t.Fatalf("live %v, outcome %v", live, group[0].Err)
	}
}
