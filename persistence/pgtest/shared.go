package pgtest

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// shared is the test package's server, started by the first Shared call and
// stopped when Main's tests are done. It is the package's only state: a test
// package has one TestMain, and every test in it shares this one server.
var shared struct {
	mu   sync.Mutex
	main bool    // Main is running the tests
	srv  *Server // started on demand
	err  error   // why starting failed; not retried
}

// Main runs the test package's tests (m.Run), then stops the server Shared
// started, if any, and exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	if shared.srv != nil {
		if err := shared.srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
		shared.srv = nil
	}
	shared.mu.Unlock()
	os.Exit(code)
}

// Shared returns the test package's server, starting it on first use. The
// package's TestMain must call Main, which stops it. When no server can be
// started, t is skipped (or failed, see the package documentation). Tests must
// not stop the shared server; fault tests use New.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		t.Fatal("pgtest.Shared needs the test package's TestMain to call pgtest.Main(m)")
	}
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = start()
	}
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	return shared.srv
}

// New starts a server of t's own, closed (stopped and removed) when t ends:
// for tests that stop and restart it. When no server can be started, t is
// skipped (or failed, see the package documentation).
func New(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return s
}
