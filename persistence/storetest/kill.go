package storetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
)

// killAcked is how many messages the child of SurvivesKill appends (in
// batches of five) before it waits to be killed.
const killAcked = 50

// SurvivesKill checks that every acknowledged Append survives the death of
// its process: the test binary is run again as a child that opens the store
// at a target with open, appends ten batches to room "r", reporting each
// acknowledged one, and is killed with SIGKILL (os.Process.Kill) right after
// the last Append returned, without Close. The parent then opens the target
// again and checks the room holds every acknowledged message under the same
// epoch.
//
// Call it as the whole body of a test: in the child (env names the target)
// it plays the child's part; in the parent, newTarget makes a fresh target
// (a file name, a database's DSN), passed to the child in env. The child runs
// only the calling test (t.Name()).
func SurvivesKill(t *testing.T, env string, newTarget func() string,
	open func(ctx context.Context, target string) (persistence.Store, error),
) {
	if target := os.Getenv(env); target != "" {
		killChild(target, open)
		return
	}
	target := newTarget()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+target)
	stdin, err := cmd.StdinPipe() // kept open: the child blocks reading it
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close() }()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var epoch string
	var acked uint64
	for sc := bufio.NewScanner(stdout); sc.Scan(); {
		line := sc.Text()
		if _, err := fmt.Sscanf(line, "acked %s %d", &epoch, &acked); err == nil && acked == killAcked {
			break
		}
		if strings.HasPrefix(line, "error") {
			t.Fatalf("child: %s", line)
		}
	}
	if acked != killAcked {
		_ = cmd.Process.Kill()
		t.Fatalf("child acknowledged %d messages, want %d", acked, killAcked)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s, err := open(t.Context(), target)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	st := MustOpenRoom(t, s, "r")
	if st.Created || st.Epoch != epoch || st.LastOffset != acked {
		t.Fatalf("room after kill = %+v, want epoch %s last offset %d", st, epoch, acked)
	}
	if got := Offsets(MustRead(t, s, "r", persistence.ReadQuery{Limit: 100}).Messages); !slices.Equal(got, Span(1, acked)) {
		t.Fatalf("stream after kill = %v", got)
	}
}

// killChild is the child side of SurvivesKill: it appends ten batches,
// reports each acknowledged one, then waits to be killed.
func killChild(target string, open func(ctx context.Context, target string) (persistence.Store, error)) {
	ctx := context.Background()
	s, err := open(ctx, target)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	st, err := s.OpenRoom(ctx, "r")
	if err != nil {
		fmt.Println("error", err)
		return
	}
	for off := uint64(1); off <= killAcked; off += 5 {
		if err := s.Append(ctx, "r", st.Claim(), Batch(off, 5)); err != nil {
			fmt.Println("error", err)
			return
		}
		fmt.Printf("acked %s %d\n", st.Epoch, off+4)
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed; the store is never closed
}
