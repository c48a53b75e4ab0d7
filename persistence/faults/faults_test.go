package faults_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/faults"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestContractWhileHealthy runs the store contract through a healthy wrapper.
func TestContractWhileHealthy(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Store {
		s := faults.Wrap(persistence.NewMemory())
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestFailReturnsErrInjectedUntilHealed(t *testing.T) {
	s := faults.Wrap(persistence.NewMemory())
	ctx := context.Background()
	st := storetest.MustOpenRoom(t, s, "r")
	hit := s.Inject(faults.Fail)
	if err := s.Append(ctx, "r", st.Claim(), storetest.Batch(1, 3)); !errors.Is(err, faults.ErrInjected) {
		t.Fatalf("Append while failing = %v, want ErrInjected", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, faults.ErrInjected) {
		t.Fatalf("Ping while failing = %v, want ErrInjected", err)
	}
	select {
	case <-hit:
	default:
		t.Fatal("hit channel still open after an injected failure")
	}
	if n := s.Heal(); n != 2 {
		t.Fatalf("Heal reported %d injected calls, want 2", n)
	}
	storetest.MustAppend(t, s, "r", st.Claim(), storetest.Batch(1, 3))
	if got := s.Mode(); got != faults.Healthy {
		t.Fatalf("mode after heal = %v", got)
	}
}

func TestStallBlocksUntilHealedOrCancelled(t *testing.T) {
	s := faults.Wrap(persistence.NewMemory())
	st := storetest.MustOpenRoom(t, s, "r")
	hit := s.Inject(faults.Stall)

	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() { cancelled <- s.Ping(ctx) }()
	<-hit
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("stalled Ping after cancel = %v, want context.Canceled", err)
	}

	done := make(chan error, 1)
	go func() { done <- s.Append(context.Background(), "r", st.Claim(), storetest.Batch(1, 2)) }()
	select {
	case err := <-done:
		t.Fatalf("Append returned %v while stalled", err)
	case <-time.After(20 * time.Millisecond):
		// Not a synchronisation: a bounded check that the call is still blocked.
	}
	s.Heal()
	if err := <-done; err != nil {
		t.Fatalf("stalled Append after heal = %v", err)
	}
	res, err := s.Read(context.Background(), "r", persistence.ReadQuery{Limit: 10})
	if err != nil || len(res.Messages) != 2 {
		t.Fatalf("Read after heal = %d messages, %v; want 2", len(res.Messages), err)
	}
}

// BenchmarkHealthyRead measures what the wrapper adds to a store call when no
// drill runs, with every core calling at once: compare with
// BenchmarkUnwrappedRead.
//
//	go test ./persistence/faults -bench Read -cpu 1,2
func BenchmarkHealthyRead(b *testing.B) {
	benchRead(b, faults.Wrap(persistence.NewMemory()))
}

// BenchmarkUnwrappedRead is BenchmarkHealthyRead on the bare memory store.
func BenchmarkUnwrappedRead(b *testing.B) {
	benchRead(b, persistence.NewMemory())
}

func benchRead(b *testing.B, s persistence.Store) {
	storetest.Seed(b, s, "r", 10)
	q := persistence.ReadQuery{Limit: 1}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Read(context.Background(), "r", q); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestRetentionAndSessionCallsMeetFaults checks that the methods added for
// retention and sessions pass through the fault gate too.
func TestRetentionAndSessionCallsMeetFaults(t *testing.T) {
	s := faults.Wrap(persistence.NewMemory())
	ctx := context.Background()
	storetest.Seed(t, s, "r", 3)
	s.Inject(faults.Fail)
	calls := map[string]error{}
	_, calls["Trim"] = s.Trim(ctx, "r", persistence.TrimRequest{UpTo: 3, Limit: 10})
	_, calls["OldestOffset"] = s.OldestOffset(ctx, "r")
	calls["SaveSession"] = s.SaveSession(ctx, persistence.SessionRecord{ID: "s"})
	_, calls["LoadSession"] = s.LoadSession(ctx, "s")
	calls["DeleteSession"] = s.DeleteSession(ctx, "s")
	_, calls["DeleteExpiredSessions"] = s.DeleteExpiredSessions(ctx, time.Now(), 10)
	for name, err := range calls {
		if !errors.Is(err, faults.ErrInjected) {
			t.Errorf("%s while failing = %v, want ErrInjected", name, err)
		}
	}
	if n := s.Heal(); n != len(calls) {
		t.Errorf("Heal reported %d injected calls, want %d", n, len(calls))
	}
	if n := storetest.MustTrim(t, s, "r", persistence.TrimRequest{UpTo: 3, Limit: 10}); n != 3 {
		t.Errorf("Trim after healing = %d, want 3", n)
	}
}
