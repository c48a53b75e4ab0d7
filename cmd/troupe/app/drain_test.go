package app_test

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestGracefulDrainOnSIGTERM runs troupe as a child process, sends it SIGTERM
// with clients connected, and checks the drain the README promises: every
// connection is closed with 1001, the process exits 0 within the shutdown
// timeout, and every message acknowledged before the signal is recovered
// after a restart on the same SQLite file.
// (/readyz answering 503 during the drain is checked in-process, with the
// store stalled to hold the drain open: TestShutdownAcksBeforeClosing.)
func TestGracefulDrainOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and signals a server process")
	}
	const shutdownTimeout = 10 * time.Second
	bin := buildTroupe(t)
	db := filepath.Join(t.TempDir(), "troupe.db")
	flags := []string{"--store", "sqlite://" + db, "--rate-limit", "0", "--shutdown-timeout", shutdownTimeout.String()}

	srv := startProcess(t, bin, flags...)
	writer := mustDial(t, srv.addr)
	writer.hello("writer")
	joined := writer.request(map[string]any{"type": "join", "room": "drain"})
	if joined["type"] != "joined" || joined["offset"] != float64(0) {
		t.Fatalf("join: %v", joined)
	}
	epoch, _ := joined["epoch"].(string)
	if epoch == "" {
		t.Fatalf("joined without an epoch: %v", joined)
	}
	reader := mustDial(t, srv.addr)
	reader.hello("reader")
	if j := reader.request(map[string]any{"type": "join", "room": "drain"}); j["type"] != "joined" {
		t.Fatalf("reader join: %v", j)
	}
	idle := mustDial(t, srv.addr) // upgraded, never says hello

	const n = 25
	texts := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		text := fmt.Sprintf("before-sigterm-%02d", i)
		ack := writer.request(map[string]any{"type": "send", "room": "drain", "text": text, "cid": fmt.Sprintf("c-%d", i)})
		if ack["type"] != "ack" || ack["offset"] != float64(i) || ack["dup"] != false {
			t.Fatalf("send %d: %v", i, ack)
		}
		texts = append(texts, text)
	}
	// The reader has seen the last message: the room is live at SIGTERM.
	for {
		f := reader.nextOfType("message")
		msg := f["msg"].(map[string]any)
		if msg["offset"] == float64(n) {
			break
		}
	}

	exited := make(chan error, 1)
	go func() { exited <- srv.cmd.Wait() }()
	signalled := time.Now()
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	for name, c := range map[string]*rawClient{"writer": writer, "reader": reader, "idle": idle} {
		if code := c.waitClose(); code != 1001 {
			t.Errorf("%s: close code %d on SIGTERM, want 1001", name, code)
		}
	}

	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("process after SIGTERM: %v (want exit status 0)", err)
		}
		if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("exit status %d, want 0", code)
		}
		if took := time.Since(signalled); took >= shutdownTimeout {
			t.Fatalf("drain took %v, not within the shutdown timeout %v", took, shutdownTimeout)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		_ = srv.cmd.Process.Kill()
		<-exited
		t.Fatalf("process still running %v after SIGTERM (shutdown timeout %v)", shutdownTimeout+5*time.Second, shutdownTimeout)
	}

	// Restart on the same file: every acked message is recovered, in order,
	// in the same epoch.
	srv2 := startProcess(t, bin, flags...)
	r := mustDial(t, srv2.addr)
	r.hello("recoverer")
	rec := r.request(map[string]any{"type": "join", "room": "drain", "since": map[string]any{"offset": 0, "epoch": epoch}})
	if rec["type"] != "joined" || rec["epoch"] != epoch || rec["recovered"] != true || rec["offset"] != float64(n) {
		t.Fatalf("recovery join after restart: %v", rec)
	}
	msgs, _ := rec["messages"].([]any)
	if len(msgs) != n {
		t.Fatalf("recovered %d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		msg := m.(map[string]any)
		if msg["offset"] != float64(i+1) || msg["text"] != texts[i] {
			t.Fatalf("recovered message %d: offset %v text %v, want %d %q", i, msg["offset"], msg["text"], i+1, texts[i])
		}
		from, _ := msg["from"].(map[string]any)
		if from["name"] != "writer" {
			t.Fatalf("recovered message %d from %v, want writer", i, from)
		}
	}
}
