// Package pgtest runs throwaway PostgreSQL servers for tests: initdb into a
// temporary directory, the postmaster listening on 127.0.0.1 on a free port
// (unix sockets in that directory), trust authentication, fsync on.
//
// A test package shares one server through Main and Shared, and gets an
// independent database per test from Server.NewDatabase:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		dsn := pgtest.Shared(t).NewDatabase(t)
//		…
//	}
//
// Fault tests that stop the server (StopImmediate, then Restart) start their
// own with New. When the binaries (initdb, pg_ctl, postgres) are missing the
// tests are skipped with a loud message, or fail when CI=1 or
// TROUPE_REQUIRE_POSTGRES=1.
//
// When the tests run as root the server runs as the "postgres" OS user, as
// PostgreSQL refuses to run as root. The postmaster is started with a
// parent-death signal, so it dies with the test binary even when that binary
// crashes or is killed.
package pgtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// Server is one PostgreSQL server in its own temporary directory.
type Server struct {
	bin  string              // directory of initdb, pg_ctl and postgres
	dir  string              // temp dir: data directory, sockets and log
	cred *syscall.Credential // the OS user the server runs as; nil: ours
	port int

	mu   sync.Mutex // guards proc and dbs
	proc *postmaster
	dbs  int // databases created by NewDatabase, for unique names
}

// start initialises a data directory and starts a server on it.
func start() (*Server, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if s.cred, err = serverUser(); err != nil {
		return nil, err
	}
	if s.dir, err = os.MkdirTemp("", "troupe-pgtest-"); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := s.initdb(); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	// A port found free may be taken before the server binds it; try again
	// on another.
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.Restart(); err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}

// serverUser returns the credential of the "postgres" OS user when running as
// root, nil otherwise (the server then runs as the current user).
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and PostgreSQL refuses root: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: postgres gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// initdb makes the temp dir the server user's own and creates the data
// directory in it, with superuser "postgres" and trust authentication.
func (s *Server) initdb() error {
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	// --no-sync only skips flushing initdb's own files; the server itself
	// runs with fsync=on.
	out, err := s.command("initdb", "-D", s.dataDir(), "-U", "postgres", "--auth=trust",
		"--no-locale", "-E", "UTF8", "--no-sync").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	return nil
}

// command returns a command running the named server program as the server user.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

// dataDir is the server's data directory.
func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// logPath is the file the server's log is copied to.
func (s *Server) logPath() string { return filepath.Join(s.dir, "server.log") }

// Port returns the TCP port the server listens on (127.0.0.1).
func (s *Server) Port() int { return s.port }

// Restart starts the server again on its data directory and port after
// StopImmediate (crash recovery runs first). It returns once the server
// accepts connections. Starting a running server is an error.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.proc.exited() {
		return errors.New("pgtest: restart: server is running")
	}
	p, err := s.startPostmaster()
	if err != nil {
		return err
	}
	s.proc = p
	return nil
}

// StopImmediate stops the server at once, as a crash would (pg_ctl stop -m
// immediate: no checkpoint, connections cut), and waits until it has exited.
// Restart brings it back.
func (s *Server) StopImmediate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

// stopLocked is StopImmediate with mu held. Stopping a stopped server is a no-op.
func (s *Server) stopLocked() error {
	if s.proc == nil || s.proc.exited() {
		return nil
	}
	out, err := s.command("pg_ctl", "stop", "-D", s.dataDir(), "-m", "immediate", "-w").CombinedOutput()
	if err != nil {
		// Whatever pg_ctl thinks, the server must go.
		_ = s.proc.cmd.Process.Kill()
	}
	<-s.proc.done
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Close stops the server immediately and removes its directory.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.stopLocked()
	return errors.Join(err, os.RemoveAll(s.dir))
}

// freePort returns a TCP port on 127.0.0.1 nothing listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
