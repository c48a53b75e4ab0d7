package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// longTTL is a lease that outlives any test.
const longTTL = time.Hour

// shortTTL is a lease a test waits out (by polling Leases).
const shortTTL = 50 * time.Millisecond

// MustRenew renews node's lease for ttl or fails the test.
func MustRenew(t testing.TB, s persistence.Store, node string, ttl time.Duration) persistence.Lease {
	t.Helper()
	l, err := s.RenewLease(t.Context(), node, ttl)
	if err != nil {
		t.Fatalf("RenewLease(%q, %v): %v", node, ttl, err)
	}
	return l
}

// MustRelease releases node's lease or fails the test.
func MustRelease(t testing.TB, s persistence.Store, node string) {
	t.Helper()
	if err := s.ReleaseLease(t.Context(), node); err != nil {
		t.Fatalf("ReleaseLease(%q): %v", node, err)
	}
}

// MustLeases lists the live leases or fails the test.
func MustLeases(t testing.TB, s persistence.Store) []persistence.Lease {
	t.Helper()
	ls, err := s.Leases(t.Context())
	if err != nil {
		t.Fatalf("Leases: %v", err)
	}
	return ls
}

// MustClaim claims room for node or fails the test.
func MustClaim(t testing.TB, s persistence.Store, room, node string) persistence.RoomState {
	t.Helper()
	st, err := s.ClaimRoom(t.Context(), room, node)
	if err != nil {
		t.Fatalf("ClaimRoom(%q, %q): %v", room, node, err)
	}
	return st
}

// LeaseNodes returns the nodes of ls, in order.
func LeaseNodes(ls []persistence.Lease) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Node
	}
	return out
}

// WaitExpired polls Leases until node's lease is no longer listed, and fails
// the test if that takes more than ten seconds.
func WaitExpired(t testing.TB, s persistence.Store, node string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		live := false
		for _, l := range MustLeases(t, s) {
			live = live || l.Node == node
		}
		if !live {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lease of %q is still live after 10s", node)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkOwned reports an error unless err is an *persistence.OwnedError for
// room and owner, wrapping persistence.ErrOwned.
func checkOwned(t testing.TB, op string, err error, room, owner string) {
	t.Helper()
	var oe *persistence.OwnedError
	switch {
	case !errors.As(err, &oe):
		t.Errorf("%s: %v, want a *persistence.OwnedError", op, err)
	case oe.Room != room || oe.Owner != owner:
		t.Errorf("%s: OwnedError %+v, want room %q owner %q", op, *oe, room, owner)
	case !errors.Is(err, persistence.ErrOwned):
		t.Errorf("%s: %v does not wrap persistence.ErrOwned", op, err)
	}
}

// runLeases checks node leases and owned claims.
func runLeases(t *testing.T, open func(t *testing.T) persistence.Store) {
	t.Run("RenewLeaseExtends", func(t *testing.T) {
		s := open(t)
		if ls := MustLeases(t, s); ls == nil || len(ls) != 0 {
			t.Fatalf("Leases of an empty store = %#v, want empty non-nil", ls)
		}
		l1 := MustRenew(t, s, "node-a", longTTL)
		if l1.Node != "node-a" || l1.Expires.Location() != time.UTC {
			t.Fatalf("RenewLease = %+v, want node-a with a UTC expiry", l1)
		}
		l2 := MustRenew(t, s, "node-a", 2*longTTL)
		if d := l2.Expires.Sub(l1.Expires); d < longTTL-time.Minute || d > longTTL+time.Minute {
			t.Fatalf("renewal for %v more moved the expiry by %v (%v → %v)", longTTL, d, l1.Expires, l2.Expires)
		}
		if ls := MustLeases(t, s); len(ls) != 1 || ls[0].Node != "node-a" || !ls[0].Expires.Equal(l2.Expires) {
			t.Fatalf("Leases = %+v, want only %+v", ls, l2)
		}
		l3 := MustRenew(t, s, "node-a", longTTL) // renewing may shorten
		if !l3.Expires.Before(l2.Expires) {
			t.Fatalf("shorter renewal expires %v, want before %v", l3.Expires, l2.Expires)
		}
		for _, tc := range []struct {
			node string
			ttl  time.Duration
		}{{"", longTTL}, {"node-a", 0}, {"node-a", -time.Second}, {"nul\x00", longTTL}, {"bad\xff", longTTL}} {
			if _, err := s.RenewLease(t.Context(), tc.node, tc.ttl); !errors.Is(err, persistence.ErrInvalidLease) {
				t.Errorf("RenewLease(%q, %v) = %v, want persistence.ErrInvalidLease", tc.node, tc.ttl, err)
			}
		}
		if _, err := s.ClaimRoom(t.Context(), "r", ""); !errors.Is(err, persistence.ErrInvalidLease) {
			t.Errorf("ClaimRoom for the empty node = %v, want persistence.ErrInvalidLease", err)
		}
		if _, err := s.LookupRoom(t.Context(), "r"); !errors.Is(err, persistence.ErrNoSuchRoom) {
			t.Errorf("a refused ClaimRoom created the room: %v", err)
		}
		if ls := MustLeases(t, s); len(ls) != 1 || !ls[0].Expires.Equal(l3.Expires) {
			t.Fatalf("Leases after refused renewals = %+v, want only %+v", ls, l3)
		}
	})

	t.Run("LeasesListOnlyLive", func(t *testing.T) {
		s := open(t)
		MustRenew(t, s, "node-b", longTTL)
		MustRenew(t, s, "node-c", shortTTL)
		MustRenew(t, s, "node-a", longTTL)
		MustRenew(t, s, "Node-Z", longTTL) // bytewise: upper case sorts first
		WaitExpired(t, s, "node-c")
		if got, want := LeaseNodes(MustLeases(t, s)), []string{"Node-Z", "node-a", "node-b"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("Leases = %v, want %v", got, want)
		}
		MustRenew(t, s, "node-c", longTTL) // an expired lease revives
		MustRelease(t, s, "node-b")
		MustRelease(t, s, "node-b")  // again: not an error
		MustRelease(t, s, "node-zz") // never held: not an error
		if got, want := LeaseNodes(MustLeases(t, s)), []string{"Node-Z", "node-a", "node-c"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("Leases after renew and release = %v, want %v", got, want)
		}
		if err := s.ReleaseLease(t.Context(), ""); !errors.Is(err, persistence.ErrInvalidLease) {
			t.Errorf("ReleaseLease(\"\") = %v, want persistence.ErrInvalidLease", err)
		}
	})

	t.Run("ClaimRoomHonoursLiveOwners", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		MustRenew(t, s, "A", longTTL)
		MustRenew(t, s, "B", longTTL)
		a := MustClaim(t, s, "r", "A")
		if !a.Created || a.Owner != "A" || a.Room != "r" || a.LastOffset != 0 || a.Fence == 0 || !epochRE.MatchString(a.Epoch) {
			t.Fatalf("first ClaimRoom = %+v, want room r created, owned by A, with a fence", a)
		}
		MustAppend(t, s, "r", a.Claim(), Batch(1, 3))
		if info := MustLookup(t, s, "r"); info.Owner != "A" || info.LastOffset != 3 {
			t.Fatalf("LookupRoom = %+v, want owner A, last offset 3", info)
		}

		_, err := s.ClaimRoom(ctx, "r", "B")
		checkOwned(t, "ClaimRoom by B while A is live", err, "r", "A")
		MustAppend(t, s, "r", a.Claim(), Batch(4, 1)) // the refusal claimed nothing
		if info := MustLookup(t, s, "r"); info.Owner != "A" {
			t.Fatalf("owner after a refused claim = %q, want A", info.Owner)
		}

		a2 := MustClaim(t, s, "r", "A") // the owner re-claims
		if a2.Created || a2.Owner != "A" || a2.Epoch != a.Epoch || a2.LastOffset != 4 || a2.Fence <= a.Fence {
			t.Fatalf("re-claim by the owner = %+v, want owner A, epoch %s, last offset 4, fence above %d", a2, a.Epoch, a.Fence)
		}
		if err := s.Append(ctx, "r", a.Claim(), Batch(5, 1)); !errors.Is(err, persistence.ErrFenced) {
			t.Errorf("Append under A's first claim after its re-claim: %v, want persistence.ErrFenced", err)
		}

		MustRelease(t, s, "A") // A shuts down: its rooms are free at once
		b := MustClaim(t, s, "r", "B")
		if b.Created || b.Owner != "B" || b.Epoch != a.Epoch || b.LastOffset != 4 || b.Fence <= a2.Fence {
			t.Fatalf("ClaimRoom by B after A released = %+v, want owner B, last offset 4, fence above %d", b, a2.Fence)
		}
		if err := s.Append(ctx, "r", a2.Claim(), Batch(5, 1)); !errors.Is(err, persistence.ErrFenced) {
			t.Errorf("Append by the stale owner A: %v, want persistence.ErrFenced", err)
		}
		MustAppend(t, s, "r", b.Claim(), Batch(5, 1))
		if info := MustLookup(t, s, "r"); info.Owner != "B" || info.LastOffset != 5 {
			t.Fatalf("LookupRoom after B's claim = %+v, want owner B, last offset 5", info)
		}
		MustRenew(t, s, "A", longTTL) // A comes back: the room stays B's
		_, err = s.ClaimRoom(ctx, "r", "A")
		checkOwned(t, "ClaimRoom by A while B is live", err, "r", "B")

		// A short lease runs out: its rooms become claimable.
		MustRenew(t, s, "C", shortTTL)
		c := MustClaim(t, s, "q", "C")
		if _, err := s.ClaimRoom(ctx, "q", "B"); err != nil { // C may already have expired
			checkOwned(t, "ClaimRoom by B while C may be live", err, "q", "C")
		}
		WaitExpired(t, s, "C")
		bq := MustClaim(t, s, "q", "B")
		if bq.Owner != "B" || bq.Fence <= c.Fence || bq.Created {
			t.Fatalf("ClaimRoom by B after C expired = %+v, want owner B, fence above %d", bq, c.Fence)
		}
		if err := s.Append(ctx, "q", c.Claim(), Batch(1, 1)); !errors.Is(err, persistence.ErrFenced) {
			t.Errorf("Append by the expired owner C: %v, want persistence.ErrFenced", err)
		}

		// An owner that never held a lease holds nothing.
		MustClaim(t, s, "g", "ghost")
		if g := MustClaim(t, s, "g", "B"); g.Owner != "B" {
			t.Fatalf("ClaimRoom of a room owned without lease = %+v, want owner B", g)
		}

		want := []persistence.RoomInfo{
			{Room: "g", Epoch: MustLookup(t, s, "g").Epoch, Owner: "B"},
			{Room: "q", Epoch: c.Epoch, Owner: "B"},
			{Room: "r", Epoch: a.Epoch, LastOffset: 5, Owner: "B"},
		}
		if got, err := s.ListRooms(ctx); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("ListRooms = %+v, %v\nwant %+v", got, err, want)
		}
	})

	t.Run("OpenRoomAndClaimRoomMix", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		MustRenew(t, s, "A", longTTL)
		MustRenew(t, s, "B", longTTL)
		o := MustOpenRoom(t, s, "r") // unowned
		if o.Owner != "" {
			t.Fatalf("OpenRoom = %+v, want no owner", o)
		}
		a := MustClaim(t, s, "r", "A")
		if a.Created || a.Owner != "A" || a.Fence <= o.Fence {
			t.Fatalf("ClaimRoom of an unowned room = %+v, want owner A, fence above %d", a, o.Fence)
		}
		if err := s.Append(ctx, "r", o.Claim(), Batch(1, 1)); !errors.Is(err, persistence.ErrFenced) {
			t.Errorf("Append under OpenRoom's claim after ClaimRoom: %v, want persistence.ErrFenced", err)
		}
		// OpenRoom claims unconditionally, and drops the owner.
		o2 := MustOpenRoom(t, s, "r")
		if o2.Owner != "" || o2.Fence <= a.Fence {
			t.Fatalf("OpenRoom of A's room = %+v, want no owner, fence above %d", o2, a.Fence)
		}
		if err := s.Append(ctx, "r", a.Claim(), Batch(1, 1)); !errors.Is(err, persistence.ErrFenced) {
			t.Errorf("Append under A's claim after OpenRoom: %v, want persistence.ErrFenced", err)
		}
		if info := MustLookup(t, s, "r"); info.Owner != "" {
			t.Fatalf("owner after OpenRoom = %q, want none", info.Owner)
		}
		if b := MustClaim(t, s, "r", "B"); b.Owner != "B" {
			t.Fatalf("ClaimRoom by B after OpenRoom = %+v", b)
		}

		// A configured room is unowned; configuring keeps the owner.
		cfg := persistence.RoomConfig{Private: true, MaxMembers: 4, NoPresence: true}
		if _, err := s.ConfigureRoom(ctx, "c", cfg); err != nil {
			t.Fatal(err)
		}
		c := MustClaim(t, s, "c", "A")
		if c.Created || c.Config != cfg || c.Owner != "A" {
			t.Fatalf("ClaimRoom of a configured room = %+v, want not created, config %+v, owner A", c, cfg)
		}
		if _, err := s.ConfigureRoom(ctx, "c", persistence.RoomConfig{}); err != nil {
			t.Fatal(err)
		}
		if info := MustLookup(t, s, "c"); info.Owner != "A" {
			t.Fatalf("owner after ConfigureRoom = %q, want A", info.Owner)
		}
		MustAppend(t, s, "c", c.Claim(), Batch(1, 1))

		// A deleted room comes back unowned, under a greater fence.
		if err := s.DeleteRoom(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		c2 := MustClaim(t, s, "c", "B")
		if !c2.Created || c2.Owner != "B" || c2.Fence <= c.Fence || c2.Epoch == c.Epoch {
			t.Fatalf("ClaimRoom after DeleteRoom = %+v, want created anew by B, fence above %d", c2, c.Fence)
		}
	})

	t.Run("ConcurrentClaimRoomOneWins", func(t *testing.T) {
		s := open(t)
		const n = 8
		nodes := make([]string, n)
		for i := range nodes {
			nodes[i] = fmt.Sprintf("node-%d", i)
			MustRenew(t, s, nodes[i], longTTL)
		}
		race := func(round string, racers []string) persistence.RoomState {
			t.Helper()
			states := make([]persistence.RoomState, len(racers))
			errs := make([]error, len(racers))
			var wg sync.WaitGroup
			for i, node := range racers {
				wg.Go(func() { states[i], errs[i] = s.ClaimRoom(t.Context(), "shared", node) })
			}
			wg.Wait()
			var won []int
			for i, err := range errs {
				if err == nil {
					won = append(won, i)
				}
			}
			if len(won) != 1 {
				t.Fatalf("%s: %d of %d racing ClaimRoom calls won (errors %v), want exactly 1", round, len(won), len(racers), errs)
			}
			w := states[won[0]]
			if w.Owner != racers[won[0]] {
				t.Fatalf("%s: winner's state %+v, want owner %s", round, w, racers[won[0]])
			}
			for i, err := range errs {
				if i != won[0] {
					checkOwned(t, round+": losing ClaimRoom", err, "shared", w.Owner)
				}
			}
			if info := MustLookup(t, s, "shared"); info.Owner != w.Owner {
				t.Fatalf("%s: owner %q, want the winner %q", round, info.Owner, w.Owner)
			}
			return w
		}
		first := race("fresh room", nodes)
		if !first.Created {
			t.Errorf("the winner on a fresh room did not create it: %+v", first)
		}
		MustAppend(t, s, "shared", first.Claim(), Batch(1, 2))
		MustRelease(t, s, first.Owner)
		var rest []string
		for _, node := range nodes {
			if node != first.Owner {
				rest = append(rest, node)
			}
		}
		second := race("released owner", rest)
		if second.Created || second.Fence <= first.Fence || second.LastOffset != 2 {
			t.Errorf("second winner = %+v, want the existing room (last offset 2), fence above %d", second, first.Fence)
		}
		if err := s.Append(t.Context(), "shared", first.Claim(), Batch(3, 1)); !errors.Is(err, persistence.ErrFenced) {
			t.Errorf("Append by the first winner after the second won: %v, want persistence.ErrFenced", err)
		}
		MustAppend(t, s, "shared", second.Claim(), Batch(3, 1))
	})

	t.Run("LeasesCanceledAndClosed", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.ClaimRoom(ctx, "new", "A"); !errors.Is(err, context.Canceled) {
			t.Errorf("ClaimRoom with canceled context: %v, want context.Canceled", err)
		}
		if _, err := s.LookupRoom(t.Context(), "new"); !errors.Is(err, persistence.ErrNoSuchRoom) {
			t.Errorf("room created by a canceled ClaimRoom: %v", err)
		}
		if _, err := s.RenewLease(ctx, "A", longTTL); !errors.Is(err, context.Canceled) {
			t.Errorf("RenewLease with canceled context: %v, want context.Canceled", err)
		}
		if ls := MustLeases(t, s); len(ls) != 0 {
			t.Errorf("Leases after a canceled renewal = %+v, want none", ls)
		}
		MustRenew(t, s, "A", longTTL)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		bg := t.Context()
		_, err := s.ClaimRoom(bg, "r", "A")
		checkClosed(t, "ClaimRoom", err)
		_, err = s.RenewLease(bg, "A", longTTL)
		checkClosed(t, "RenewLease", err)
		checkClosed(t, "ReleaseLease", s.ReleaseLease(bg, "A"))
		_, err = s.Leases(bg)
		checkClosed(t, "Leases", err)
	})
}
