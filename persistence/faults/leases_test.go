package faults_test

import (
	"errors"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/faults"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestFailGatesClusterCalls: the lease and claim calls meet the fault like
// every other call, and pass through once healed.
func TestFailGatesClusterCalls(t *testing.T) {
	s := faults.Wrap(persistence.NewMemory())
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	s.Inject(faults.Fail)
	_, errClaim := s.ClaimRoom(ctx, "r", "A")
	_, errRenew := s.RenewLease(ctx, "A", time.Hour)
	_, errLeases := s.Leases(ctx)
	for name, err := range map[string]error{"ClaimRoom": errClaim, "RenewLease": errRenew,
		"ReleaseLease": s.ReleaseLease(ctx, "A"), "Leases": errLeases} {
		if !errors.Is(err, faults.ErrInjected) {
			t.Errorf("%s while failing: %v, want ErrInjected", name, err)
		}
	}
	if n := s.Heal(); n != 4 {
		t.Fatalf("Heal reported %d injected calls, want 4", n)
	}
	storetest.MustRenew(t, s, "A", time.Hour)
	if c := storetest.MustClaim(t, s, "r", "A"); c.Owner != "A" {
		t.Fatalf("ClaimRoom after healing = %+v", c)
	}
}
