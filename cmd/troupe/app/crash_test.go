package app_test

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence/pgtest"
)

// serverProcess is troupe running as a real child process.
type serverProcess struct {
	cmd  *exec.Cmd
	addr string
	logs chan string // the server's log lines after the serving line (dropped when full)
	tail *logTail    // the last lines the server logged, for a failed test's report
}

// logTail keeps the last lines a server logged.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

// tailLines is how many lines a logTail keeps.
const tailLines = 60

func (l *logTail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == tailLines {
		l.lines = append(l.lines[:0], l.lines[1:]...)
	}
	l.lines = append(l.lines, line)
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitLog waits for a log line containing text.
func (p *serverProcess) waitLog(t *testing.T, text string) {
	t.Helper()
	deadline := time.After(frameWait)
	for {
		select {
		case line := <-p.logs:
			if strings.Contains(line, text) {
				return
			}
		case <-deadline:
			t.Fatalf("the server never logged %q", text)
		}
	}
}

var servingLine = regexp.MustCompile(`msg="troupe serving" addr=(\S+)`)

// buildTroupe builds the binary once per test into a temp dir.
func buildTroupe(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "troupe")
	out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProcess runs the binary and waits for its "troupe serving" log line.
func startProcess(t *testing.T, bin string, args ...string) *serverProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "text"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // already dead in most tests
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	logs := make(chan string, 1024)
	tail := &logTail{}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if line := sc.Text(); !strings.Contains(line, "level=INFO") || !strings.Contains(line, "component=nats-server") {
				tail.add(line) // the embedded NATS server's info lines are noise here
			}
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
				continue
			}
			select {
			case logs <- sc.Text():
			default:
			}
		}
	}()
	select {
	case addr := <-found:
		return &serverProcess{cmd: cmd, addr: addr, logs: logs, tail: tail}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return nil
}

// TestAckedMessagesSurviveSIGKILL kills the server process mid-stream, starts
// it again on the same SQLite file, and recovers the room with since: every
// acked message is there, at the offset its ack named, in order, with no gap
// and no duplicate; the epoch is unchanged.
func TestAckedMessagesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	killAndRecover(t, "sqlite://"+filepath.Join(t.TempDir(), "troupe.db"))
}

// TestAckedMessagesSurviveSIGKILLOnPostgres is the same on a real
// PostgreSQL store: the server process dies with its pool's transactions in
// flight, and the next process finds every acked message.
func TestAckedMessagesSurviveSIGKILLOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	killAndRecover(t, pgtest.New(t).NewDatabase(t))
}

// killAndRecover pipelines sends to a server process on store, SIGKILLs it
// after 300 acks, starts another on the same store and recovers the room.
func killAndRecover(t *testing.T, store string) {
	bin := buildTroupe(t)
	flags := []string{"--store", store, "--rate-limit", "0"}

	srv := startProcess(t, bin, flags...)
	c := mustDial(t, srv.addr)
	c.hello("writer")
	joined := c.request(map[string]any{"type": "join", "room": "crash"})
	epoch := joined["epoch"].(string)

	// Pipeline sends (at most 32 unacked) and SIGKILL the server after 300 acks.
	acked := map[string]float64{} // cid → offset
	const window, killAfter = 32, 300
	sent := 0
	send := func() {
		sent++
		c.sendJSON(map[string]any{"type": "send", "id": sent, "room": "crash", "text": fmt.Sprintf("m%d", sent), "cid": "c" + strconv.Itoa(sent)})
	}
	for range window {
		send()
	}
	for len(acked) < killAfter {
		f := c.next()
		if f["type"] != "ack" {
			t.Fatalf("unexpected frame %v", f)
		}
		acked["c"+strconv.Itoa(int(f["id"].(float64)))] = f["offset"].(float64)
		send()
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Acks already on the wire before the kill count too.
	for {
		select {
		case f := <-c.frames:
			<-c.raw
			if f["type"] == "ack" {
				acked["c"+strconv.Itoa(int(f["id"].(float64)))] = f["offset"].(float64)
			}
			continue
		case <-c.closed:
		}
		break
	}
	_ = srv.cmd.Wait()

	srv2 := startProcess(t, bin, flags...)
	r := mustDial(t, srv2.addr)
	r.hello("reader")
	rec := r.request(map[string]any{"type": "join", "room": "crash", "since": map[string]any{"offset": 0, "epoch": epoch}})
	if rec["type"] != "joined" || rec["epoch"] != epoch || rec["recovered"] != true {
		t.Fatalf("recovery join: %v", rec)
	}
	msgs := rec["messages"].([]any)
	if int(rec["offset"].(float64)) != len(msgs) {
		t.Fatalf("offset %v but %d messages recovered", rec["offset"], len(msgs))
	}
	seen := map[string]bool{}
	for i, m := range msgs {
		msg := m.(map[string]any)
		if int(msg["offset"].(float64)) != i+1 {
			t.Fatalf("message %d has offset %v: gap or disorder", i, msg["offset"])
		}
		text := msg["text"].(string)
		if seen[text] {
			t.Fatalf("duplicate message %s", text)
		}
		seen[text] = true
	}
	for cid, off := range acked {
		msg := msgs[int(off)-1].(map[string]any)
		if "c"+msg["text"].(string)[1:] != cid {
			t.Fatalf("ack for %s named offset %v, which holds %v", cid, off, msg["text"])
		}
	}
	t.Logf("%d acked before SIGKILL, %d stored, all recovered in order", len(acked), len(msgs))
	if len(acked) < killAfter {
		t.Fatalf("only %d acks", len(acked))
	}
}
