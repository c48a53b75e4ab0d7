package postgres_test

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
	"github.com/troupe-chat/troupe/persistence/pgtest"
	"github.com/troupe-chat/troupe/persistence/postgres"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// killChildEnv carries the DSN a re-executed test binary appends to before
// it is killed.
const killChildEnv = "TROUPE_POSTGRES_KILL_CHILD_DSN"

// TestSurvivesKill appends in a child process, kills it with SIGKILL right
// after Append returned, without Close, and checks that every acknowledged
// message is in the database.
func TestSurvivesKill(t *testing.T) {
	if dsn := os.Getenv(killChildEnv); dsn != "" {
		killChild(dsn)
		return
	}
	dsn := pgtest.Shared(t).NewDatabase(t)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSurvivesKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dsn)
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
		if _, err := fmt.Sscanf(line, "acked %s %d", &epoch, &acked); err == nil && acked == 50 {
			break
		}
		if strings.HasPrefix(line, "error") {
			t.Fatalf("child: %s", line)
		}
	}
	if acked != 50 {
		_ = cmd.Process.Kill()
		t.Fatalf("child acknowledged %d messages, want 50", acked)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s := openDSN(t, dsn)
	st := storetest.MustOpenRoom(t, s, "r")
	if st.Created || st.Epoch != epoch || st.LastOffset != acked {
		t.Fatalf("room after kill = %+v, want epoch %s last offset %d", st, epoch, acked)
	}
	if got := storetest.Offsets(storetest.MustRead(t, s, "r", persistence.ReadQuery{Limit: 100}).Messages); !slices.Equal(got, storetest.Span(1, acked)) {
		t.Fatalf("stream after kill = %v", got)
	}
}

// killChild is the child side of TestSurvivesKill: it appends ten batches,
// reports each acknowledged one, then waits to be killed.
func killChild(dsn string) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	st, err := s.OpenRoom(ctx, "r")
	if err != nil {
		fmt.Println("error", err)
		return
	}
	for off := uint64(1); off <= 50; off += 5 {
		if err := s.Append(ctx, "r", st.Claim(), storetest.Batch(off, 5)); err != nil {
			fmt.Println("error", err)
			return
		}
		fmt.Printf("acked %s %d\n", st.Epoch, off+4)
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed; the store is never closed
}
