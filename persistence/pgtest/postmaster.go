package pgtest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readyLine is what the server logs once it accepts connections (the log
// is in English: lc_messages=C).
const readyLine = "database system is ready to accept connections"

// startTimeout bounds waiting for the server to accept connections
// (crash recovery included).
const startTimeout = 2 * time.Minute

// postmaster is one run of the server process.
type postmaster struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
}

// exited reports whether the process has exited.
func (p *postmaster) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startPostmaster runs the postgres server on the data directory and waits
// until its log says it accepts connections, or it exits, or startTimeout
// passes.
func (s *Server) startPostmaster() (*postmaster, error) {
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	cmd := s.command("postgres", "-D", s.dataDir(),
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+s.dir,
		"-c", "fsync=on",
		"-c", "lc_messages=C",
		"-c", "max_connections=200",
	)
	cmd.Stdout, cmd.Stderr = w, w
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// If the test binary dies, so does the server: the kernel sends SIGKILL
	// when the thread that started it exits. That thread stays locked to
	// the goroutine below, which lives until the server exits.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	p := &postmaster{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			close(p.done)
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(p.done)
	}()
	err = <-started
	_ = w.Close() // the server holds its own copy
	if err != nil {
		_ = r.Close()
		_ = logFile.Close()
		return nil, fmt.Errorf("pgtest: start postgres: %w", err)
	}

	ready := make(chan struct{})
	go func() {
		defer func() { _ = r.Close(); _ = logFile.Close() }()
		sc := bufio.NewScanner(r)
		waiting := true
		for sc.Scan() {
			line := sc.Text()
			_, _ = fmt.Fprintln(logFile, line)
			if waiting && strings.Contains(line, readyLine) {
				waiting = false
				close(ready)
			}
		}
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return p, nil
	case <-p.done:
		// The scanner goroutine may still be copying the last lines; the log
		// file has them too.
		log, _ := os.ReadFile(s.logPath())
		return nil, fmt.Errorf("pgtest: postgres exited before accepting connections (%v); log:\n%s",
			cmd.ProcessState, tail(log))
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-p.done
		return nil, errors.New("pgtest: postgres did not accept connections within " + startTimeout.String())
	}
}

// tail returns the last lines of a log.
func tail(log []byte) []byte {
	const keep = 4000
	if len(log) > keep {
		return log[len(log)-keep:]
	}
	return log
}
